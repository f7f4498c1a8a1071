"""The platforms, served locally: a stateful stand-in for Onfleet, Nash, Deftship and HyperTrack.

``create_app(config)`` (:mod:`~loadtest.emulator.app`) builds the Starlette app;
:mod:`~loadtest.emulator.serve` runs it on the one uvicorn stack that ``fleetsim emulate``,
the demo and the benchmarks share.  It never imports :mod:`loadtest.trace` or
:mod:`loadtest.replay`.
"""
