"""The replay's webhook receiver: what the target calls back while a day is replayed.

Modules: :mod:`.model` (expected events and arrivals, as rows that travel between
processes), :mod:`.verify` (each provider's signature and body, pure), :mod:`.receiver`
(the Starlette app and its uvicorn thread), :mod:`.matching` (arrivals against
expectations, pure), :mod:`.registration` (telling the target where to call) and
:mod:`.host` (the receiver and its registrations for one replay process).
"""
