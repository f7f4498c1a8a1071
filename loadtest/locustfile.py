"""Documented Locust entry point: ``locust -f loadtest/locustfile.py``.

The suite lives in :mod:`loadtest.replay.locustfile`; importing it here registers its
``TraceReplayUser``, command-line options and event hooks with Locust.
"""

from loadtest.replay.locustfile import TraceReplayUser

__all__ = ["TraceReplayUser"]
