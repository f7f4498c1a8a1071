"""``fleetsim replay --find-max speedup|scale --thresholds FILE``: the target's capacity.

Concepts held here: :class:`Probe` (one replay at one value: whether it passed, that is
ran valid and met every threshold, and if not, what broke first), :func:`search` (the
search itself, over any probe function, so it is tested without HTTP): from the starting
value, double until a run fails (or halve until one passes), then bisect between the
highest pass and the lowest failure until they are within :data:`TOLERANCE` (speedup,
geometric midpoints) or adjacent (scale, integers), never running more than ``max_runs``
replays; and :func:`run_find_max`, which probes with real replays
(:func:`loadtest.replay.launch.run_replay`, each into ``OUT/run-NN-<kind>-<value>``) and
writes ``OUT/find-max.json``.

The answer is the highest value whose run passed and the lowest whose run failed; the
failure is named by the run's first broken threshold (its endpoint or flow) or its first
validity reason.  A load that passes at every value tried has no upper bound yet: the
answer then says so (``broke_at`` null) rather than inventing one.
"""

from __future__ import annotations

import dataclasses
import io
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import orjson

from loadtest.replay.results import ReplayResults, ThresholdCheck, read_results
from sim.errors import UserError

KINDS = ("speedup", "scale")
DEFAULT_MAX_RUNS = 8
#: Bisection on speedup stops once the highest pass and the lowest failure are within 10%.
TOLERANCE = 0.10
#: Speedups are not halved below this (a day slower than real time tells nothing more).
MIN_SPEEDUP = 1e-3
FILE_NAME = "find-max.json"


@dataclass(frozen=True, slots=True)
class Probe:
    """One replay at ``value``: passed (valid, every threshold met) or what broke."""

    value: float
    passed: bool
    exit_code: int
    #: Empty when passed; else the first broken threshold or the first validity reason.
    broke: str = ""
    #: The endpoints and flows (or ``run validity``) that broke, worst first.
    scopes: tuple[str, ...] = ()
    out: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"scopes": list(self.scopes)}


@dataclass(frozen=True, slots=True)
class FindMax:
    """The search's answer: the highest passing value and the lowest failing one."""

    kind: str
    best: float | None
    broke_at: float | None
    #: What broke at ``broke_at`` (see :attr:`Probe.broke`) and the scopes that broke.
    breaking: str
    breaking_scopes: tuple[str, ...]
    converged: bool
    probes: tuple[Probe, ...]
    interrupted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "best": self.best,
            "broke_at": self.broke_at,
            "breaking": self.breaking,
            "breaking_scopes": list(self.breaking_scopes),
            "converged": self.converged,
            "interrupted": self.interrupted,
            "runs": [p.to_json() for p in self.probes],
        }


def _close_enough(kind: str, lo: float, hi: float) -> bool:
    if kind == "scale":
        return hi - lo <= 1
    return hi <= lo * (1.0 + TOLERANCE)


def _next(kind: str, lo: float | None, hi: float | None, last: float) -> float | None:
    """The next value to try, or None when the search is over."""
    if hi is None:  # nothing failed yet: go up
        return last * 2
    if lo is None:  # nothing passed yet: go down
        if kind == "scale":
            return None if last <= 1 else float(max(1, int(last) // 2))
        return None if last / 2 < MIN_SPEEDUP else last / 2
    if _close_enough(kind, lo, hi):
        return None
    if kind == "scale":
        return float((int(lo) + int(hi)) // 2)
    return math.sqrt(lo * hi)


def search(probe: Callable[[float], Probe], kind: str, start: float, max_runs: int) -> FindMax:
    """Bracket, then bisect; see the module docstring.  Stops early on an interrupted
    probe (exit code 128 + signal)."""
    if kind not in KINDS:
        raise UserError(f"--find-max {kind!r}: choose one of {', '.join(KINDS)}")
    if max_runs < 1:
        raise UserError(f"--max-runs {max_runs}: must be >= 1")
    if kind == "scale":
        start = float(max(1, int(start)))
    lo: float | None = None
    hi: float | None = None
    probes: list[Probe] = []
    by_value: dict[float, Probe] = {}
    value: float | None = start
    interrupted = False
    while value is not None and len(probes) < max_runs:
        p = probe(value)
        probes.append(p)
        by_value[value] = p
        if p.exit_code >= 128:
            interrupted = True
            break
        if p.passed:
            lo = value if lo is None else max(lo, value)
        else:
            hi = value if hi is None else min(hi, value)
        if lo is not None and hi is not None and lo >= hi:
            # A noisy target: a pass above a failure.  Trust the failure below.
            lo = max((v for v, q in by_value.items() if q.passed and v < hi), default=None)
        value = _next(kind, lo, hi, value)
    at_hi = by_value.get(hi) if hi is not None else None
    return FindMax(
        kind=kind,
        best=lo,
        broke_at=hi,
        breaking=at_hi.broke if at_hi else "",
        breaking_scopes=at_hi.scopes if at_hi else (),
        converged=lo is not None and hi is not None and _close_enough(kind, lo, hi),
        probes=tuple(probes),
        interrupted=interrupted,
    )


def _excess(c: ThresholdCheck) -> float:
    """How far past its limit a failed check is (relative), to rank what broke."""
    if c.actual is None:
        return math.inf
    scale = abs(c.limit) if c.limit else 1.0
    return abs(c.actual - c.limit) / scale


def judge_probe(value: float, code: int, results: ReplayResults | None, out: Path) -> Probe:
    """A replay's outcome as a probe (``results`` None: no results.json was written)."""
    if results is None or results.problems:
        why = "; ".join(results.problems) if results else "no results.json"
        return Probe(value, False, code, f"no usable results (exit {code}): {why}", (), str(out))
    if not results.valid:
        reason = results.validity.reasons[0] if results.validity.reasons else "run invalid"
        return Probe(value, False, code, f"run invalid: {reason}", ("run validity",), str(out))
    failed = sorted((c for c in results.thresholds if not c.passed), key=_excess, reverse=True)
    if failed:
        c = failed[0]
        shown = "no samples" if c.actual is None else f"{c.actual:g}"
        sign = "<" if c.metric.startswith("min_") else ">"
        broke = f"{c.scope}: {c.metric} {shown} {sign} {c.limit:g}"
        scopes = tuple(dict.fromkeys(c.scope for c in failed))
        return Probe(value, False, code, broke, scopes, str(out))
    if code != 0:
        return Probe(value, False, code, f"exit {code}", (), str(out))
    return Probe(value, True, code, "", (), str(out))


def _label(kind: str, value: float) -> str:
    return f"x{int(value)}" if kind == "scale" else f"{value:.4g}x"


def run_find_max(
    opts: Any, kind: str, max_runs: int = DEFAULT_MAX_RUNS, stream: TextIO | None = None
) -> int:
    """Search with real replays of ``opts`` (a :class:`ReplayOptions`); write
    ``find-max.json``.  Exit 0 when some value passed, 1 when none did, 130/143 when
    interrupted (what was learnt so far is written)."""
    from loadtest.replay.launch import run_replay

    stream = sys.stdout if stream is None else stream
    if opts.thresholds is None:
        raise UserError("--find-max needs --thresholds FILE: the limits a passing run must meet")
    root: Path = opts.out
    root.mkdir(parents=True, exist_ok=True)
    start = float(opts.scale) if kind == "scale" else float(opts.speedup)
    count = [0]

    def probe(value: float) -> Probe:
        count[0] += 1
        out = root / f"run-{count[0]:02d}-{kind}-{_label(kind, value)}"
        if kind == "scale":
            one = dataclasses.replace(opts, scale=int(value), out=out, log_path=out / "locust.log")
        else:
            one = dataclasses.replace(opts, speedup=value, out=out, log_path=out / "locust.log")
        out.mkdir(parents=True, exist_ok=True)
        said = io.StringIO()
        code = run_replay(one, said)
        (out / "stdout.txt").write_text(said.getvalue())
        path = out / "results.json"
        results = read_results(path) if path.is_file() else None
        p = judge_probe(value, code, results, out)
        verdict = "passed" if p.passed else f"failed: {p.broke}"
        print(
            f"find-max {kind}: run {count[0]}/{max_runs} at {_label(kind, value)}: {verdict}",
            file=stream,
            flush=True,
        )
        return p

    found = search(probe, kind, start, max_runs)
    path = root / FILE_NAME
    path.write_bytes(orjson.dumps(found.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
    for line in summary(found):
        print(line, file=stream)
    print(f"wrote {path}", file=stream)
    if found.interrupted:
        return found.probes[-1].exit_code
    return 0 if found.best is not None else 1


def summary(found: FindMax) -> list[str]:
    """The answer in a few lines."""
    k = found.kind
    if found.best is None:
        low = min(p.value for p in found.probes)
        return [f"find-max {k}: no run passed (lowest tried {_label(k, low)}: {found.breaking})"]
    lines = [f"find-max {k}: highest passing {_label(k, found.best)}"]
    if found.broke_at is None:
        lines.append(f"  no run failed: the capacity is above {_label(k, found.best)}")
    else:
        lines.append(f"  breaks at {_label(k, found.broke_at)}: {found.breaking}")
        if not found.converged:
            lines.append(f"  not converged within {len(found.probes)} runs (raise --max-runs)")
    return lines
