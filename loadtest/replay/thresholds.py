"""Pass/fail gates over a replay's results: the thresholds TOML, checks, table, JUnit XML.

Concepts held here: :class:`Limit` (one scope's limits, validated once from TOML),
:func:`load_thresholds`, :func:`evaluate` (results.json data to :class:`Check` rows),
:func:`format_table` and :func:`write_junit`.  The file format is shown in
``loadtest/thresholds.example.toml``: tables ``[endpoints."<name>"]`` (``"*"`` for every
endpoint), ``[flows."<name>"]`` and ``[schedule_lag]``.  An endpoint or flow with no
samples is skipped unless its table says ``required = true``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from sim.errors import UserError

METRICS = ("p95_ms", "p99_ms", "max_error_ratio", "min_rps")
LAG_METRICS = ("p50_ms", "p99_ms", "max_ms")


@dataclass(frozen=True, slots=True)
class Limit:
    """The limits for one endpoint, flow, or the schedule lag (None = not checked)."""

    kind: str  # endpoint | flow | schedule_lag
    scope: str
    limits: tuple[tuple[str, float], ...]
    #: With no samples for the scope: a failure when required, else a skip.
    required: bool = False


@dataclass(frozen=True, slots=True)
class Check:
    scope: str
    metric: str
    limit: float
    actual: float | None
    passed: bool
    skipped: bool = False  # no samples, and the limit is not required

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "metric": self.metric,
            "limit": self.limit,
            "actual": self.actual,
            "passed": self.passed,
            "skipped": self.skipped,
        }

    @property
    def result(self) -> str:
        return "skipped (no samples)" if self.skipped else "ok" if self.passed else "FAIL"


def _limits(table: Any, where: str, allowed: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    if not isinstance(table, dict):
        raise UserError(f"{where} must be a table")
    out = []
    for k, v in table.items():
        if k == "required" and allowed is METRICS:
            if not isinstance(v, bool):
                raise UserError(f"{where}.required = {v!r}: must be true or false")
            continue
        if k not in allowed:
            raise UserError(f"{where}.{k}: unknown limit; allowed: {', '.join(allowed)}")
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise UserError(f"{where}.{k} = {v!r}: must be a number >= 0")
        out.append((k, float(v)))
    return tuple(out)


def parse_thresholds(data: Mapping[str, Any], source: str = "thresholds") -> list[Limit]:
    """Validate decoded TOML into limits; errors name the table path and the value."""
    known = {"endpoints", "flows", "schedule_lag"}
    extra = set(data) - known
    if extra:
        raise UserError(
            f"{source}: unknown table(s) {sorted(extra)}; allowed: {', '.join(sorted(known))}"
        )
    out: list[Limit] = []
    for kind, key in (("endpoint", "endpoints"), ("flow", "flows")):
        section = data.get(key, {})
        if not isinstance(section, dict):
            raise UserError(f"{source}: [{key}] must be a table of tables")
        for scope, table in section.items():
            where = f"{source}: {key}.{scope!r}"
            limits = _limits(table, where, METRICS)
            out.append(Limit(kind, scope, limits, bool(table.get("required", False))))
    if "schedule_lag" in data:
        out.append(
            Limit(
                "schedule_lag",
                "schedule_lag",
                _limits(data["schedule_lag"], f"{source}: schedule_lag", LAG_METRICS),
            )
        )
    return out


def load_thresholds(path: Path) -> list[Limit]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise UserError(f"--thresholds {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"--thresholds {path}: invalid TOML: {exc}") from None
    return parse_thresholds(data, str(path))


def _actual(metric: str, row: Mapping[str, Any], duration_s: float, flow: bool) -> float:
    if metric == "max_error_ratio":
        count = float(row["count"])
        errs = float(row.get("failed" if flow else "errors", 0))
        return errs / count if count else 0.0
    if metric == "min_rps":
        if flow:
            return float(row["count"]) / duration_s if duration_s > 0 else 0.0
        return float(row["rps"])
    if flow:  # flow times are seconds in results.json; limits are in ms
        return float(row[metric.replace("_ms", "_s")]) * 1000.0
    return float(row[metric])


def evaluate(results: Mapping[str, Any], limits: list[Limit]) -> list[Check]:
    """One check per (scope, metric).  A scope with no samples is skipped (a trace uses
    one submission mode, so most batch limits have nothing to judge), unless its table
    says ``required = true``: then it fails every limit."""
    checks: list[Check] = []
    duration = float(results.get("duration_s", 0.0))
    endpoints = {e["name"]: e for e in results.get("endpoints", [])}
    flows = {f["name"]: f for f in results.get("flows", [])}
    for lim in limits:
        if lim.kind == "schedule_lag":
            lag = results.get("schedule_lag_ms", {})
            for metric, limit in lim.limits:
                actual = float(lag.get(metric.removesuffix("_ms"), 0.0))
                checks.append(Check("schedule_lag", metric, limit, actual, actual <= limit))
            continue
        table = endpoints if lim.kind == "endpoint" else flows
        scopes = sorted(table) if lim.scope == "*" else [lim.scope]
        for scope in scopes:
            row = table.get(scope)
            for metric, limit in lim.limits:
                if row is None or not row.get("count"):
                    skip = not lim.required
                    checks.append(Check(scope, metric, limit, None, skip, skipped=skip))
                    continue
                actual = _actual(metric, row, duration, lim.kind == "flow")
                ok = actual >= limit if metric == "min_rps" else actual <= limit
                checks.append(Check(scope, metric, limit, round(actual, 4), ok))
    return checks


def format_table(checks: list[Check]) -> str:
    head = ("scope", "metric", "limit", "actual", "result")
    rows = [
        (
            c.scope,
            c.metric,
            f"{c.limit:g}",
            "no samples" if c.actual is None else f"{c.actual:g}",
            c.result,
        )
        for c in checks
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_junit(checks: list[Check], path: Path, suite: str = "fleetsim.replay") -> None:
    """A JUnit XML report: one test case per check, a failure element per violation."""
    fails = sum(1 for c in checks if not c.passed)
    skips = sum(1 for c in checks if c.skipped)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites><testsuite name={quoteattr(suite)} tests="{len(checks)}" '
        f'failures="{fails}" errors="0" skipped="{skips}">',
    ]
    for c in checks:
        name = quoteattr(f"{c.scope} {c.metric}")
        lines.append(f"  <testcase classname={quoteattr(suite)} name={name}>")
        if c.skipped:
            lines.append('    <skipped message="no samples"/>')
        elif not c.passed:
            actual = "no samples" if c.actual is None else f"{c.actual:g}"
            msg = quoteattr(f"{c.metric} = {actual}, limit {c.limit:g}")
            lines.append(f"    <failure message={msg}/>")
        lines.append("  </testcase>")
    lines.append("</testsuite></testsuites>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
