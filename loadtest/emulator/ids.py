"""Identifiers in each provider's format, deterministic for a given seed.

Onfleet ids are 24 characters of ``[A-Za-z0-9~*]``: base64 of 18 random bytes with
``+/`` mapped to ``~*`` (18 bytes are exactly 24 characters, so a batch's ids come from
one base64 call over ``18 * n`` bytes, sliced).  Short ids are 8 hex characters, unique.
Bytes come from a private, seeded :class:`random.Random` (never the global one; its
``randbytes`` costs a fraction of a microsecond where a numpy generator call costs several,
which matters on the single-create path); each start of a durable emulator uses the next
*generation* of the seed so a restart never replays old ids.
"""

from __future__ import annotations

import base64
import random
import uuid

_TRANSLATE = bytes.maketrans(b"+/", b"~*")


class IdGen:
    """Id source for one emulator instance."""

    __slots__ = ("_generation", "_rng", "_seed", "_shorts")

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._generation = 0
        self._rng = random.Random(f"fleetsim-ids:{seed}:0")
        self._shorts: set[str] = set()

    def onfleet_many(self, n: int) -> list[str]:
        """``n`` 24-character Onfleet ids."""
        s = base64.b64encode(self._rng.randbytes(18 * n)).translate(_TRANSLATE).decode()
        return [s[i : i + 24] for i in range(0, 24 * n, 24)]

    def onfleet(self) -> str:
        return self.onfleet_many(1)[0]

    def short_many(self, n: int) -> list[str]:
        """``n`` unused 8-hex short ids."""
        h = self._rng.randbytes(4 * n).hex()
        out = [h[i : i + 8] for i in range(0, 8 * n, 8)]
        shorts = self._shorts
        for k, s in enumerate(out):
            while s in shorts:
                s = self._rng.randbytes(4).hex()
            shorts.add(s)
            out[k] = s
        return out

    def short(self) -> str:
        return self.short_many(1)[0]

    def claim_short(self, short: str) -> None:
        """Mark a short id (restored from disk) as taken."""
        self._shorts.add(short)

    def uuid(self) -> str:
        """A UUID-4-shaped id (Deftship items, HyperTrack route handles)."""
        return str(uuid.UUID(bytes=self._rng.randbytes(16), version=4))

    def prefixed(self, prefix: str) -> str:
        """A Nash-style id such as ``job_…``."""
        return prefix + self._rng.randbytes(11).hex()

    def digits(self, n: int) -> str:
        """``n`` decimal digits (tracking numbers, Deftship batch ids)."""
        v = int.from_bytes(self._rng.randbytes(16), "little")
        return str(v % (10**n)).zfill(n)

    def state(self) -> int:
        return self._generation

    def restore(self, generation: int) -> None:
        """Continue after a restart: move to the generation after the stored one."""
        self._generation = max(self._generation, generation + 1)
        self._rng = random.Random(f"fleetsim-ids:{self._seed}:{self._generation}")


def request_id() -> str:
    """A per-request id for error bodies (not seeded: it only correlates logs)."""
    return str(uuid.uuid4())
