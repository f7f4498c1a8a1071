"""From the simulator's tables to ``trace.jsonl`` and back.

Modules: :mod:`~loadtest.trace.format` (header, call record, dump and validated read),
:mod:`~loadtest.trace.build` (the builder: send order, references, the fleetsim tag),
:mod:`~loadtest.trace.onfleet` (the Onfleet day and :func:`~loadtest.trace.onfleet.write_trace`),
:mod:`~loadtest.trace.partners` (Nash, Deftship and HyperTrack mirrors) and
:mod:`~loadtest.trace.summary` (what ``fleetsim trace`` prints).
"""
