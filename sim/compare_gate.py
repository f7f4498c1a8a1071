"""The regression gate of ``fleetsim compare --gate FILE``: limits on deltas, judged honestly.

Concepts held here:

* :class:`GateLimit` -- one limit on one metric's delta, for every scope of a section
  (a top-level table) or for one named endpoint, flow or sweep variant;
* :class:`Vocabulary` -- which metrics each section has (the KPI registry's for runs and
  sweeps, the replay's own for endpoints, flows and the lag), so a misspelt name is an
  error with a did-you-mean rather than a limit that gates nothing;
* :func:`parse_gate` / :func:`load_gate` -- the TOML, validated once;
* :class:`GateCheck` and :func:`evaluate_gate` -- one check per (limit, delta).

The file::

    [p99_ms]                       # every endpoint's p99 latency
    max_increase_pct = 10
    [error_ratio]                  # every endpoint's and flow's calls failed for good
    max_increase = 0.001
    [on_time_pct]                  # a KPI, for run and sweep comparisons
    max_decrease = 2
    [endpoints."POST /api/v2/tasks".p99_ms]   # one endpoint: replaces the general limit
    max_increase_ms = 20

Limit keys: ``max_increase`` and ``max_decrease`` (in the metric's unit; ``_ms`` or
``_s`` may be appended when it is that unit), ``max_increase_pct`` and
``max_decrease_pct`` (relative to the base).  **Only a significant violation fails**: the
delta is past the limit *and* its interval excludes 0 on that side, so noise is never
called a regression.  A delta without an interval (one run each, the schedule lag, which
results.json keeps no samples of) cannot be judged and its check is skipped, as is a limit
that matches nothing in the comparison.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sim.compare import Comparison, Delta
from sim.errors import UserError
from sim.kpis import KPI_NAMES

LimitKind = Literal["max_increase", "max_decrease", "max_increase_pct", "max_decrease_pct"]
LIMIT_KINDS: tuple[LimitKind, ...] = (
    "max_increase",
    "max_decrease",
    "max_increase_pct",
    "max_decrease_pct",
)
#: Sections whose tables name a scope: ``[endpoints."<name>".<metric>]``.
SCOPED = ("endpoints", "flows", "variants")


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The metrics of each section (``kpis``, ``endpoints``, ``flows``, ``lag``) and the
    scope names the comparison has, for validation and did-you-mean hints."""

    metrics: Mapping[str, tuple[str, ...]]
    scopes: Mapping[str, tuple[str, ...]]
    #: The metrics this comparison has: a hint prefers them.
    present: tuple[str, ...] = ()

    @property
    def all_metrics(self) -> list[str]:
        seen: list[str] = []
        for names in self.metrics.values():
            seen += [n for n in names if n not in seen]
        return seen


KPI_METRICS: Mapping[str, tuple[str, ...]] = {"kpis": KPI_NAMES}


@dataclass(frozen=True, slots=True)
class GateLimit:
    """``kind`` ≤ ``value`` for ``metric`` of every scope (``scope`` None) or of one scope
    of ``section`` (an endpoint, a flow, a sweep variant)."""

    metric: str
    kind: LimitKind
    value: float
    section: str | None = None
    scope: str | None = None

    def describe(self) -> str:
        unit = "%" if self.kind.endswith("_pct") else ""
        return f"{self.metric} {self.kind} {self.value:g}{unit}"


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def _limit_kind(key: str, metric: str) -> LimitKind | None:
    by_name: dict[str, LimitKind] = {k: k for k in LIMIT_KINDS}
    # max_increase_ms on a *_ms metric is the same limit, unit spelt out.
    for suffix in ("_ms", "_s"):
        if metric.endswith(suffix):
            by_name[f"max_increase{suffix}"] = "max_increase"
            by_name[f"max_decrease{suffix}"] = "max_decrease"
    return by_name.get(key)


def _limits(
    table: Any, where: str, metric: str, section: str | None, scope: str | None
) -> list[GateLimit]:
    if not isinstance(table, dict):
        raise UserError(f"{where} must be a table of limits, e.g. max_increase_pct = 10")
    out = []
    for key, value in table.items():
        kind = _limit_kind(key, metric)
        if kind is None:
            allowed: list[str] = list(LIMIT_KINDS)
            for suffix in ("_ms", "_s"):
                if metric.endswith(suffix):
                    allowed += [f"max_increase{suffix}", f"max_decrease{suffix}"]
            raise UserError(
                f"{where}.{key}: unknown limit{_did_you_mean(key, allowed)} "
                f"(allowed: {', '.join(allowed)})"
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise UserError(f"{where}.{key} = {value!r}: must be a number >= 0")
        out.append(GateLimit(metric, kind, float(value), section, scope))
    return out


def parse_gate(data: Mapping[str, Any], vocab: Vocabulary, source: str = "gate") -> list[GateLimit]:
    """Validate decoded TOML into limits; an unknown table, metric, scope or limit key is
    a :class:`UserError` naming it, with the closest valid name."""
    known = vocab.all_metrics
    out: list[GateLimit] = []
    for key, table in data.items():
        if key in SCOPED:
            section = key
            if not isinstance(table, dict):
                raise UserError(f'{source}: [{key}] must hold tables, e.g. [{key}."NAME".p99_ms]')
            metrics = vocab.metrics.get("kpis" if key == "variants" else key, ())
            scopes = vocab.scopes.get(key, ())
            for scope, per_metric in table.items():
                where = f'{source}: [{key}."{scope}"]'
                if scope not in scopes:
                    hint = _did_you_mean(scope, scopes) if scopes else ""
                    raise UserError(f"{where}: no such {key[:-1]}{hint}")
                if not isinstance(per_metric, dict):
                    raise UserError(f"{where} must hold metric tables, e.g. .p99_ms")
                for metric, limits in per_metric.items():
                    if metric not in metrics:
                        raise UserError(
                            f"{where}.{metric}: unknown metric for {key}"
                            f"{_did_you_mean(metric, metrics)}"
                        )
                    out += _limits(limits, f"{where}.{metric}", metric, section, scope)
            continue
        if key not in known:
            hint = _did_you_mean(key, vocab.present) or _did_you_mean(key, [*known, *SCOPED])
            raise UserError(f"{source}: [{key}]: unknown metric or table{hint}")
        out += _limits(table, f"{source}: [{key}]", key, None, None)
    return out


def load_gate(path: Path, vocab: Vocabulary) -> list[GateLimit]:
    """Read and validate a gate file (``--gate FILE``)."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise UserError(f"--gate {path}: no such file") from None
    except OSError as exc:
        raise UserError(f"--gate {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"--gate {path}: invalid TOML: {exc}") from None
    return parse_gate(data, vocab, str(path))


@dataclass(frozen=True, slots=True)
class GateCheck:
    """One limit judged on one delta.  ``actual`` is the delta in the limit's terms (an
    increase or decrease, absolute or in %); ``skipped`` when it cannot be judged."""

    scope: str
    metric: str
    limit: GateLimit
    actual: float | None
    passed: bool
    skipped: bool = False
    reason: str = ""

    @property
    def name(self) -> str:
        return f"{self.scope or 'run'} {self.metric} {self.limit.kind}"

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "metric": self.metric,
            "limit": self.limit.describe(),
            "actual": self.actual,
            "passed": self.passed,
            "skipped": self.skipped,
            "reason": self.reason,
        }


def _matches(lim: GateLimit, d: Delta) -> bool:
    if lim.metric != d.metric:
        return False
    if lim.section is None:
        return True
    section = "kpis" if lim.section == "variants" else lim.section
    return section == d.section and lim.scope == d.scope


def _judge(lim: GateLimit, d: Delta) -> GateCheck:
    up = lim.kind.startswith("max_increase")
    amount = d.delta if up else -d.delta
    if lim.kind.endswith("_pct"):
        amount = d.delta_pct if up else -d.delta_pct
    actual = None if math.isnan(amount) else round(amount, 6)
    if actual is None:
        return GateCheck(d.scope, d.metric, lim, None, True, True, "missing on one side")
    past = amount > lim.value
    if not d.has_interval:
        why = f"cannot be judged: {d.note or 'no interval'}"
        return GateCheck(d.scope, d.metric, lim, actual, True, True, why)
    unit = f" {d.unit}" if d.unit else ""
    interval = f"delta {d.delta:+.4g}{unit} [{d.low:+.4g}, {d.high:+.4g}]"
    real = d.significant and (d.low > 0 if up else d.high < 0)
    if past and real:
        return GateCheck(d.scope, d.metric, lim, actual, False, False, f"{interval}: significant")
    why = "within the limit" if not past else f"past the limit but within noise: {interval}"
    return GateCheck(d.scope, d.metric, lim, actual, True, False, why)


def evaluate_gate(comparison: Comparison, limits: Sequence[GateLimit]) -> list[GateCheck]:
    """One check per limit and matching delta; the limits of a scoped table replace the
    general table's limits of the same metric for that scope.  A limit matching nothing is
    one skipped check."""
    checks: list[GateCheck] = []
    scoped = {(lim.metric, lim.scope) for lim in limits if lim.scope is not None}
    for lim in limits:
        hits = [d for d in comparison.deltas if _matches(lim, d)]
        if lim.scope is None:
            hits = [d for d in hits if (lim.metric, d.scope) not in scoped]
        if not hits:
            where = lim.scope or "any scope"
            checks.append(
                GateCheck(where, lim.metric, lim, None, True, True, "not in this comparison")
            )
        checks += [_judge(lim, d) for d in hits]
    return checks


def gate_lines(checks: Sequence[GateCheck]) -> list[str]:
    """The printed gate table."""
    out = []
    for c in checks:
        state = "skipped" if c.skipped else "ok" if c.passed else "FAIL"
        actual = "-" if c.actual is None else f"{c.actual:g}"
        out.append(f"gate {state:<7} {c.name}: {actual} (limit {c.limit.value:g}) {c.reason}")
    return out
