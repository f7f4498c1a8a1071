"""Identifiers in each provider's format, deterministic for a given seed.

Onfleet ids are 24 characters of ``[A-Za-z0-9~*]`` (base64 of 18 bytes with ``+/``
mapped to ``~*``); short ids are 8 hex characters, unique.  Each id is a keyed hash of a
counter, so a seed reproduces the same sequence of ids without a random generator call
per id.
"""

from __future__ import annotations

import base64
import hashlib
import uuid

_TRANSLATE = bytes.maketrans(b"+/", b"~*")


class IdGen:
    """Counter-based id source for one emulator instance (the counter survives restarts
    through :meth:`state` / :meth:`restore`)."""

    __slots__ = ("_counter", "_key", "_shorts")

    def __init__(self, seed: int) -> None:
        self._key = hashlib.blake2b(f"fleetsim-emulator:{seed}".encode(), digest_size=32).digest()
        self._counter = 0
        self._shorts: set[str] = set()

    def _digest(self, size: int) -> bytes:
        self._counter += 1
        return hashlib.blake2b(
            self._counter.to_bytes(8, "little"), key=self._key, digest_size=size
        ).digest()

    def onfleet(self) -> str:
        """A 24-character Onfleet id."""
        return base64.b64encode(self._digest(18)).translate(_TRANSLATE).decode()

    def short(self) -> str:
        """An unused 8-hex short id."""
        while True:
            s = self._digest(4).hex()
            if s not in self._shorts:
                self._shorts.add(s)
                return s

    def claim_short(self, short: str) -> None:
        """Mark a short id (restored from disk) as taken."""
        self._shorts.add(short)

    def hexid(self, nbytes: int = 12) -> str:
        return self._digest(nbytes).hex()

    def uuid(self) -> str:
        """A UUID-4-shaped id (Deftship items, HyperTrack route handles)."""
        return str(uuid.UUID(bytes=self._digest(16), version=4))

    def prefixed(self, prefix: str) -> str:
        """A Nash-style id such as ``job_…``."""
        return prefix + self._digest(11).hex()

    def digits(self, n: int) -> str:
        """``n`` decimal digits (tracking numbers)."""
        v = int.from_bytes(self._digest(16), "little")
        return str(v % (10**n)).zfill(n)

    def state(self) -> int:
        return self._counter

    def restore(self, counter: int) -> None:
        self._counter = max(self._counter, counter)


def request_id() -> str:
    """A per-request id for error bodies (not seeded: it only correlates logs)."""
    return str(uuid.uuid4())
