"""The replay's webhook receiver: what the target calls back while a day is replayed.

Modules: :mod:`.model` (expected events and arrivals, as rows that travel between
processes), :mod:`.verify` (each provider's signature and body, pure), :mod:`.receiver`
(the Starlette app and its uvicorn thread), :mod:`.matching` (arrivals against
expectations, pure), :mod:`.records` (the results section), :mod:`.registration`
(telling the target where to call), :mod:`.options` (the flags and secrets) and
:mod:`.host` (the receiver and its registrations for one replay process; the only module
that needs uvicorn and svix, imported only where a receiver runs).
"""
