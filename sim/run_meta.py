"""What identifies a run: the scenario, its hash, the seed, the version and the clock.

:class:`RunMeta` is the one record for it, with one JSON form (the top-level keys of
``kpis.json``, docs/CONTRACTS.md, in that order).  It is also a read-only mapping over that
form, so code that reads ``meta["start_epoch_ms"]`` or ``meta.get("seed")`` keeps working.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from sim.errors import UserError


@dataclass(frozen=True, slots=True)
class RunMeta(Mapping[str, Any]):
    """A run's identity; times in seconds from the scenario start, ``start_epoch_ms`` UTC."""

    scenario: str
    scenario_hash: str
    seed: int
    version: str
    start_epoch_ms: int
    duration_s: float
    end_s: float

    def to_json(self) -> dict[str, Any]:
        """The ``kpis.json`` form (without its ``kpis`` key), keys in file order."""
        return {
            "scenario": self.scenario,
            "scenario_hash": self.scenario_hash,
            "seed": self.seed,
            "version": self.version,
            "start_epoch_ms": self.start_epoch_ms,
            "duration_s": self.duration_s,
            "end_s": self.end_s,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], where: str = "kpis.json") -> RunMeta:
        """Read the form :meth:`to_json` writes; extra keys (such as ``kpis``) are ignored."""
        missing = [f.name for f in fields(cls) if f.name not in doc]
        if missing:
            raise UserError(f"{where}: missing {', '.join(missing)}")
        return cls(
            scenario=doc["scenario"],
            scenario_hash=doc["scenario_hash"],
            seed=doc["seed"],
            version=doc["version"],
            start_epoch_ms=doc["start_epoch_ms"],
            duration_s=doc["duration_s"],
            end_s=doc["end_s"],
        )

    # Read-only mapping over the JSON form, for callers that index meta by key.
    def __getitem__(self, key: str) -> Any:
        if key not in _KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(_KEYS)

    def __len__(self) -> int:
        return len(_KEYS)


_KEYS: tuple[str, ...] = tuple(f.name for f in fields(RunMeta))
