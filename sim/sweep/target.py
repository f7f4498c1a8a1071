"""Service-level targets and the fleet-size search that answers them.

Concepts held here:

* :class:`Target` -- ``on_time_pct>=95``: a KPI, a comparison and a limit.  A variant
  *meets* it when the conservative end of its confidence interval does (the lower bound
  for ``>=``/``>``, the upper bound for ``<=``/``<``), so "meets" survives the noise.
* :class:`FleetSearch` -- bisection over the integer fleet size for the smallest fleet
  that meets the target, assuming the KPI improves with more workers.  It is a small
  state machine (``next_point`` / ``record``) so a driver can run many searches in
  lock-step and evaluate all their points in one parallel batch.
* :func:`search_fleet` -- the serial driver, for a plain ``fleet -> Interval`` function.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sim.errors import UserError
from sim.kpis import KPI_NAMES
from sim.sweep.stats import Interval

_OPS = (">=", "<=", ">", "<")

_TARGET_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True, slots=True)
class Target:
    """A service level such as ``on_time_pct >= 95``."""

    kpi: str
    op: str
    limit: float

    @property
    def higher_is_better(self) -> bool:
        return self.op in (">=", ">")

    def met(self, ci: Interval) -> bool:
        """Whether the conservative bound of ``ci`` satisfies the target (NaN: no)."""
        bound = ci.low if self.higher_is_better else ci.high
        if math.isnan(bound):
            return False
        if self.op == ">=":
            return bound >= self.limit
        if self.op == ">":
            return bound > self.limit
        if self.op == "<=":
            return bound <= self.limit
        return bound < self.limit

    def bound_name(self) -> str:
        return "lower" if self.higher_is_better else "upper"

    def __str__(self) -> str:
        return f"{self.kpi}{self.op}{self.limit:g}"


def parse_target(text: str, known_kpis: tuple[str, ...] | None = KPI_NAMES) -> Target:
    """Parse ``KPI>=VALUE`` (or ``<=``, ``>``, ``<``); errors name the allowed forms.

    ``known_kpis`` defaults to the simulator's registry (``sim.kpis.KPIS``), checked before
    any run so a typo costs nothing; ``None`` accepts any name."""
    m = _TARGET_RE.match(text)
    if not m:
        raise UserError(
            f"--target {text!r}: expected KPI OP NUMBER with OP one of {', '.join(_OPS)}, "
            'e.g. --target "on_time_pct>=95"'
        )
    kpi, op, num = m.groups()
    try:
        limit = float(num)
    except ValueError:
        raise UserError(f"--target {text!r}: {num!r} is not a number") from None
    if known_kpis is not None and kpi not in known_kpis:
        raise UserError(f"--target {text!r}: unknown KPI {kpi!r}; known: {', '.join(known_kpis)}")
    return Target(kpi, op, limit)


@dataclass(frozen=True, slots=True)
class SearchPoint:
    """One evaluated fleet size: its interval for the target KPI and whether it met."""

    fleet: int
    ci: Interval
    met: bool


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The answer: the smallest fleet meeting the target (None if none within bounds)."""

    target: Target
    fleet: int | None
    ci: Interval | None
    points: tuple[SearchPoint, ...]
    min_fleet: int
    max_fleet: int

    def describe(self) -> str:
        if self.fleet is None or self.ci is None:
            return (
                f"no fleet of {self.min_fleet}..{self.max_fleet} workers meets {self.target} "
                f"(95% {self.target.bound_name()} bound)"
            )
        return (
            f"smallest fleet meeting {self.target}: {self.fleet} workers, "
            f"{self.target.kpi} = {self.ci.describe(2)} (95% CI, n={self.ci.n})"
        )


@dataclass
class FleetSearch:
    """Bisection for the smallest fleet in ``[min_fleet, max_fleet]`` meeting ``target``.

    It first evaluates ``start``; if that fails it doubles (capped at ``max_fleet``) until
    a fleet meets the target, then bisects between the largest failing and the smallest
    meeting size.  Below ``min_fleet`` is taken to fail without being run.
    """

    target: Target
    start: int
    min_fleet: int
    max_fleet: int
    points: dict[int, SearchPoint] = field(default_factory=dict)
    _lo: int = field(init=False)  # largest size known (or assumed) to fail
    _hi: int | None = field(init=False, default=None)  # smallest size known to meet
    _exhausted: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        if not 1 <= self.min_fleet <= self.max_fleet:
            raise UserError(
                f"fleet search range {self.min_fleet}..{self.max_fleet}: need 1 <= min <= max"
            )
        self.start = min(max(self.start, self.min_fleet), self.max_fleet)
        self._lo = self.min_fleet - 1

    def next_point(self) -> int | None:
        """The next fleet size to evaluate, or None when the search is over."""
        if self._exhausted:
            return None
        if self._hi is None:
            if not self.points:
                return self.start
            grown = min(max(self._lo * 2, self._lo + 1), self.max_fleet)
            if self._lo >= self.max_fleet or grown in self.points:
                self._exhausted = True
                return None
            return grown
        if self._hi - self._lo <= 1:
            return None
        return (self._lo + self._hi) // 2

    def record(self, fleet: int, ci: Interval) -> None:
        """Feed back the interval measured at ``fleet``."""
        met = self.target.met(ci)
        self.points[fleet] = SearchPoint(fleet, ci, met)
        if met:
            self._hi = fleet if self._hi is None else min(self._hi, fleet)
        else:
            self._lo = max(self._lo, fleet)

    def result(self) -> SearchResult:
        best = self.points[self._hi] if self._hi is not None else None
        return SearchResult(
            target=self.target,
            fleet=best.fleet if best else None,
            ci=best.ci if best else None,
            points=tuple(sorted(self.points.values(), key=lambda p: p.fleet)),
            min_fleet=self.min_fleet,
            max_fleet=self.max_fleet,
        )


def search_fleet(
    target: Target,
    evaluate: Callable[[int], Interval],
    start: int,
    min_fleet: int = 1,
    max_fleet: int = 10_000,
) -> SearchResult:
    """Run one :class:`FleetSearch` serially with ``evaluate(fleet) -> Interval``."""
    search = FleetSearch(target, start, min_fleet, max_fleet)
    while (fleet := search.next_point()) is not None:
        search.record(fleet, evaluate(fleet))
    return search.result()
