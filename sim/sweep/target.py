"""Service-level targets and the fleet-size search that answers them.

Concepts held here:

* :class:`Target` -- ``on_time_pct>=95``: a KPI, a comparison and a limit.  A variant
  *meets* it when the conservative end of its confidence interval does (the lower bound
  for ``>=``/``>``, the upper bound for ``<=``/``<``), so "meets" survives the noise.
* :class:`FleetSearch` -- bisection over the integer fleet size for the smallest fleet
  that meets the target, assuming the KPI improves with more workers.  It is a small
  state machine (``next_point`` / ``record``) so a driver can run many searches in
  lock-step and evaluate all their points in one parallel batch.
* :class:`SearchResult` -- the answer, and how much to trust it: the paired difference
  between the answer and the next smaller fleet on the same seeds (when that difference's
  interval holds 0, 143 against 142 workers is within noise and more seeds are suggested);
  with no answer, the best value reached and why -- a ceiling (failed tasks can never be on
  time) or an interval still too wide (then more seeds are suggested).
* :func:`search_fleet` -- the serial driver, for a ``fleet -> per-seed values`` function.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sim.errors import UserError
from sim.kpis import KPI_NAMES, kpi_bounds
from sim.sweep.stats import Interval, mean_ci, paired_diff

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
        return self.holds(ci.low if self.higher_is_better else ci.high)

    def holds(self, value: float) -> bool:
        """Whether one number (a bound, or a mean) satisfies the target (NaN: no)."""
        if math.isnan(value):
            return False
        if self.op == ">=":
            return value >= self.limit
        if self.op == ">":
            return value > self.limit
        if self.op == "<=":
            return value <= self.limit
        return value < self.limit

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is a better value of the KPI than ``b`` (NaN never is)."""
        if math.isnan(a):
            return False
        if math.isnan(b):
            return True
        return a > b if self.higher_is_better else a < b

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
    """One evaluated fleet size: its interval for the target KPI, whether it met, and the
    per-seed values (in seed order, NaN for a failed run) that pair it with other sizes."""

    fleet: int
    ci: Interval
    met: bool
    values: tuple[float, ...] = ()


def seeds_to_resolve(n: int, half_width: float, margin: float) -> int:
    """Replications that would shrink an interval of ``half_width`` (from ``n``) to below
    ``margin``: the width falls as 1/√n, so ``n·(half_width/margin)²``, at least ``2n``
    (and ``4n`` when there is no margin to resolve)."""
    if not margin > 0.0 or math.isnan(half_width):
        return 4 * max(n, 1)
    return max(2 * n, math.ceil(n * (half_width / margin) ** 2 * 1.1))


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The answer: the smallest fleet meeting the target (None if none within bounds).

    ``neighbour`` is the paired difference (answer minus the next smaller fleet, per seed)
    of the target KPI; ``ceiling`` is the best value the KPI can reach whatever the fleet,
    when the caller knows it (on-time % is capped by the tasks that fail)."""

    target: Target
    fleet: int | None
    ci: Interval | None
    points: tuple[SearchPoint, ...]
    min_fleet: int
    max_fleet: int
    neighbour: Interval | None = None
    ceiling: float | None = None
    ceiling_reason: str = ""

    @property
    def best(self) -> SearchPoint | None:
        """The evaluated point with the best mean (the largest fleet among ties)."""
        best: SearchPoint | None = None
        for p in self.points:  # sorted by fleet, so a tie goes to the larger fleet
            if best is None or not self.target.better(best.ci.mean, p.ci.mean):
                best = p
        return best

    @property
    def within_noise(self) -> bool:
        """The answer and the next smaller fleet are not told apart by the paired interval."""
        return self.neighbour is not None and not self.neighbour.excludes(0.0)

    def describe(self) -> str:
        if self.fleet is None or self.ci is None:
            return self._describe_miss()
        text = (
            f"smallest fleet meeting {self.target}: {self.fleet} workers, "
            f"{self.target.kpi} = {self.ci.describe(2)} (95% CI, n={self.ci.n})"
        )
        d = self.neighbour
        if d is None or math.isnan(d.mean):
            return text
        vs = (
            f"; {self.fleet} against {self.fleet - 1} workers, paired over {d.n} seeds: "
            f"{d.mean:+.2f} [{d.low:+.2f}, {d.high:+.2f}]"
        )
        if not self.within_noise:
            return text + vs
        more = seeds_to_resolve(d.n, d.half_width, abs(d.mean))
        return (
            text + vs + f" — within noise: {self.fleet - 1} may do as well; "
            f"try --seeds {more} to tell them apart"
        )

    def _describe_miss(self) -> str:
        head = (
            f"no fleet of {self.min_fleet}..{self.max_fleet} workers meets {self.target} "
            f"(95% {self.target.bound_name()} bound)"
        )
        best = self.best
        if best is None or math.isnan(best.ci.mean):
            return head
        ci = best.ci
        text = f"{head}; best reached: {self.target.kpi} = {ci.describe(2)} at {best.fleet} workers"
        if self.target.holds(ci.mean):
            # The mean meets the target, the conservative bound does not: only the interval
            # stands in the way, and more replications narrow it.
            bound = ci.low if self.target.higher_is_better else ci.high
            more = seeds_to_resolve(ci.n, ci.half_width, abs(ci.mean - self.target.limit))
            return (
                f"{text} — the mean meets it but the 95% {self.target.bound_name()} bound "
                f"({bound:.2f}) does not: the interval is the reason; try --seeds {more}"
            )
        if self.ceiling is not None and not self.target.holds(self.ceiling):
            return (
                f"{text} — unreachable: {self.ceiling_reason or 'the KPI is capped'} "
                f"at about {self.ceiling:.2f}, below the target whatever the fleet size"
            )
        if self.ceiling is not None:
            return (
                f"{text} — {self.ceiling_reason} at about {self.ceiling:.2f}, so the target "
                f"is within reach only near that ceiling; widen --fleet-range or add --seeds"
            )
        return f"{text}; widen --fleet-range if more workers may still help"


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

    def record(self, fleet: int, ci: Interval, values: Sequence[float] = ()) -> None:
        """Feed back the interval measured at ``fleet`` (and its per-seed values, in seed
        order, which the neighbour comparison pairs)."""
        met = self.target.met(ci)
        self.points[fleet] = SearchPoint(fleet, ci, met, tuple(float(v) for v in values))
        if met:
            self._hi = fleet if self._hi is None else min(self._hi, fleet)
        else:
            self._lo = max(self._lo, fleet)

    def result(self) -> SearchResult:
        best = self.points[self._hi] if self._hi is not None else None
        below = self.points.get(best.fleet - 1) if best is not None else None
        neighbour = None
        if best is not None and below is not None and best.values:
            # Both ran the same seeds in the same order (common random numbers).
            neighbour = paired_diff(best.values, below.values)
        return SearchResult(
            target=self.target,
            fleet=best.fleet if best else None,
            ci=best.ci if best else None,
            points=tuple(sorted(self.points.values(), key=lambda p: p.fleet)),
            min_fleet=self.min_fleet,
            max_fleet=self.max_fleet,
            neighbour=neighbour,
        )


def search_fleet(
    target: Target,
    evaluate: Callable[[int], Interval | Sequence[float]],
    start: int,
    min_fleet: int = 1,
    max_fleet: int = 10_000,
) -> SearchResult:
    """Run one :class:`FleetSearch` serially.  ``evaluate(fleet)`` gives the per-seed
    values (then the interval is :func:`~sim.sweep.stats.mean_ci` within the KPI's range,
    and neighbours are compared pairwise) or a ready :class:`Interval`."""
    search = FleetSearch(target, start, min_fleet, max_fleet)
    while (fleet := search.next_point()) is not None:
        got = evaluate(fleet)
        if isinstance(got, Interval):
            search.record(fleet, got)
        else:
            search.record(fleet, mean_ci(got, bounds=kpi_bounds(target.kpi)), got)
    return search.result()
