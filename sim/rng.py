"""The run's random streams: one child generator per purpose, all from the run's seed.

Changing the fleet or the policy leaves the demand unchanged (common random numbers),
because each purpose draws from its own stream and adding a stream never shifts the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

# Fixed stream ids: adding a stream never shifts the others.
_STREAM_IDS: Final = {
    "arrivals": 1,
    "kinds": 2,
    "places": 3,
    "service": 4,
    "failures": 5,
    "fleet": 6,
    # ids well above the others, so streams added elsewhere never collide with these
    "no_shows": 20,
    "cancels": 21,
}


@dataclass(frozen=True, slots=True)
class Streams:
    """One generator per purpose, all children of the run's seed."""

    arrivals: np.random.Generator
    kinds: np.random.Generator
    places: np.random.Generator
    service: np.random.Generator
    failures: np.random.Generator
    fleet: np.random.Generator
    no_shows: np.random.Generator
    cancels: np.random.Generator


def make_streams(seed: int) -> Streams:
    return Streams(
        **{name: np.random.default_rng([seed, sid]) for name, sid in _STREAM_IDS.items()}
    )
