"""Dask worker preload for the local cluster (``preload=["sim.sweep.worker_setup"]``).

Ctrl-C in a terminal sends SIGINT to the whole foreground process group, the worker
processes included.  Left alone, each worker dies with a ``KeyboardInterrupt`` traceback
and its heartbeat logs ``CancelledError`` and closed-stream errors, tens of lines that bury
the sweep's own "run again with --resume".  The main process owns Ctrl-C: it cancels the
runs and closes the cluster, which stops the workers cleanly.  So workers ignore SIGINT.
"""

from __future__ import annotations

import signal
import threading
from typing import Any


def ignore_sigint() -> bool:
    """Ignore SIGINT in this process (only possible from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return True


def dask_setup(worker: Any) -> None:
    """Called by Dask in each worker process as it starts."""
    ignore_sigint()
