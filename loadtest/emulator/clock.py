"""The emulator's clock: simulated time that may run faster than the wall clock.

``fleetsim emulate --time-scale X`` makes one wall second X simulated seconds.  Every
timed behaviour of the emulator (rate-limit windows, latency draws, async-job rates,
timed lifecycle transitions, webhook retry schedules, worker schedules) reads this clock
or converts its simulated durations to wall durations through it, so that all of them
scale together.

At start the simulated time equals the wall time, so epoch timestamps stay plausible;
from then on it advances ``scale`` times faster.
"""

from __future__ import annotations

import asyncio
import math
import time


class Clock:
    """Simulated time for one emulator instance (see the module docstring)."""

    __slots__ = ("_mono0", "_wall0", "scale")

    def __init__(self, scale: float = 1.0) -> None:
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"time scale must be a positive number, not {scale!r}")
        self.scale = float(scale)
        self._wall0 = time.time()
        self._mono0 = time.monotonic()

    def now_s(self) -> float:
        """Simulated epoch seconds."""
        return self._wall0 + (time.monotonic() - self._mono0) * self.scale

    def now_ms(self) -> int:
        """Simulated epoch milliseconds (Onfleet's time unit)."""
        return int(self.now_s() * 1000)

    def monotonic(self) -> float:
        """Simulated seconds since an arbitrary origin, never going backwards."""
        return (time.monotonic() - self._mono0) * self.scale

    def wall(self, sim_s: float) -> float:
        """The wall-clock seconds that ``sim_s`` simulated seconds take."""
        return sim_s / self.scale

    def sim(self, wall_s: float) -> float:
        """The simulated seconds that ``wall_s`` wall-clock seconds are."""
        return wall_s * self.scale

    async def sleep(self, sim_s: float) -> None:
        """Sleep for ``sim_s`` simulated seconds."""
        await asyncio.sleep(max(0.0, sim_s) / self.scale)
