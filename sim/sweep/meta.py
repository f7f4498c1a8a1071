"""``sweep.json``: what a sweep was (scenario, grid, seeds, target) and what the target
searches found, so ``fleetsim report SWEEP_DIR`` can redraw the report from the files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from sim.errors import UserError
from sim.sweep.config import SweepConfig
from sim.sweep.grid import Param, ParamValue, Variant
from sim.sweep.runner import RunRow
from sim.sweep.stats import Interval
from sim.sweep.store import META
from sim.sweep.target import SearchResult, Target


def _num(x: float) -> float | None:
    return None if math.isnan(x) else x


@dataclass(frozen=True, slots=True)
class SearchPointMeta:
    """One evaluated fleet size of a target search."""

    fleet: int
    mean: float | None
    low: float | None
    high: float | None
    n: int
    met: bool


@dataclass(frozen=True, slots=True)
class SearchMeta:
    """One target search: the other parameters' values, the answer and every point."""

    variant: dict[str, ParamValue]
    fleet: int | None
    mean: float | None
    low: float | None
    high: float | None
    n: int
    summary: str
    points: list[SearchPointMeta]
    # The answer minus the next smaller fleet, paired per seed (None: not available).
    neighbour_mean: float | None = None
    neighbour_low: float | None = None
    neighbour_high: float | None = None
    within_noise: bool = False
    # What caps the KPI whatever the fleet (only when no fleet met the target).
    ceiling: float | None = None


@dataclass(frozen=True, slots=True)
class SweepMeta:
    """The contents of ``sweep.json``."""

    scenario: str
    scenario_name: str
    scenario_key: str
    params: dict[str, list[ParamValue]]
    seeds: list[int]
    target: str | None
    target_kpi: str | None
    target_op: str | None
    target_limit: float | None
    searches: list[SearchMeta]
    runs: int
    failed: int
    # --baseline-variant: the variant paired.csv compares against (None: no comparison).
    baseline: dict[str, ParamValue] | None = None

    @classmethod
    def build(
        cls,
        config: SweepConfig,
        name: str,
        key: str,
        params: Sequence[Param],
        seeds: Sequence[int],
        target: Target | None,
        searches: Sequence[tuple[Variant, SearchResult]],
        rows: Sequence[RunRow],
        baseline: Variant | None = None,
    ) -> SweepMeta:
        return cls(
            scenario=str(config.scenario),
            scenario_name=name,
            scenario_key=key,
            params={p.path: list(p.values) for p in params},
            seeds=list(seeds),
            target=str(target) if target else None,
            target_kpi=target.kpi if target else None,
            target_op=target.op if target else None,
            target_limit=target.limit if target else None,
            searches=[_search_meta(v, r) for v, r in searches],
            runs=len(rows),
            failed=sum(1 for r in rows if not r.ok),
            baseline=baseline.params if baseline is not None else None,
        )

    def target_record(self) -> Target | None:
        if self.target_kpi is None or self.target_op is None or self.target_limit is None:
            return None
        return Target(self.target_kpi, self.target_op, self.target_limit)


def _search_meta(variant: Variant, r: SearchResult) -> SearchMeta:
    ci = r.ci or Interval(math.nan, math.nan, math.nan, 0, math.nan)
    return SearchMeta(
        variant=variant.params,
        fleet=r.fleet,
        mean=_num(ci.mean),
        low=_num(ci.low),
        high=_num(ci.high),
        n=ci.n,
        summary=r.describe(),
        points=[
            SearchPointMeta(
                p.fleet, _num(p.ci.mean), _num(p.ci.low), _num(p.ci.high), p.ci.n, p.met
            )
            for p in r.points
        ],
        neighbour_mean=_num(r.neighbour.mean) if r.neighbour else None,
        neighbour_low=_num(r.neighbour.low) if r.neighbour else None,
        neighbour_high=_num(r.neighbour.high) if r.neighbour else None,
        within_noise=r.within_noise,
        ceiling=r.ceiling,
    )


def write_meta(meta: SweepMeta, out_dir: Path) -> Path:
    path = out_dir / META
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(orjson.dumps(asdict(meta), option=orjson.OPT_INDENT_2))
    tmp.replace(path)  # never a half-written sweep.json that looks finished
    return path


def read_meta(out_dir: Path) -> SweepMeta:
    """Read ``sweep.json`` back into records; a damaged file is a :class:`UserError`."""
    path = out_dir / META
    try:
        d = orjson.loads(path.read_bytes())
        if not isinstance(d, dict):
            raise TypeError(f"expected an object, got {type(d).__name__}")
        searches = [
            SearchMeta(
                **{k: v for k, v in s.items() if k != "points"},
                points=[SearchPointMeta(**p) for p in s["points"]],
            )
            for s in d.get("searches", [])
        ]
        return SweepMeta(**{**d, "searches": searches})
    except (orjson.JSONDecodeError, TypeError, KeyError, AttributeError) as exc:
        raise UserError(
            f"{path}: not a readable sweep.json ({exc}); run the sweep again "
            "(add --resume to reuse its finished runs)"
        ) from None
