"""Container write locks (API-NOTES §1.2, §5.3): writes to one container are serialised;
a writer that cannot get the lock within ``container_lock_wait_ms`` gets 412.

With ``container_lock_hold_ms = 0`` (the fast profile) a write never awaits while holding
the lock, so asyncio already serialises it and the lock is skipped entirely.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from loadtest.emulator.errors import ApiError
from loadtest.providers.onfleet import E_PRECONDITION


class _NoLock:
    """The lock when no hold time is configured: nothing to wait for."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()


class ContainerLocks:
    def __init__(self, hold_ms: float, wait_ms: float) -> None:
        self.hold_s = hold_ms / 1000.0
        self.wait_s = wait_ms / 1000.0
        self._locks: dict[str, asyncio.Lock] = {}

    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """Hold ``key``'s lock for the write (plus the configured hold time)."""
        if self.hold_s <= 0:
            return _NO_LOCK
        return self._hold(key)

    @asynccontextmanager
    async def _hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            await asyncio.wait_for(lock.acquire(), self.wait_s)
        except TimeoutError:
            raise ApiError(
                412,
                "The container is locked by another write; retry later.",
                error=E_PRECONDITION,
                cause=f"container {key}",
            ) from None
        try:
            yield
            await asyncio.sleep(self.hold_s)
        finally:
            lock.release()
