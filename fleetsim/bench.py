"""The benchmark runner behind ``fleetsim bench``.

Every benchmark measures the real code path *and* a baseline in the same run (these
machines are shared and noisy, so only ratios travel well), and reports rows of
:class:`BenchResult`.  Results print as a table and land in ``results/bench/bench.json``
as ``{"benchmarks": [{"name", "value", "unit", "baseline", "ratio", ...}]}``.
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from sim.errors import UserError


@dataclass(frozen=True, slots=True)
class BenchResult:
    """One measured figure with its same-run baseline.

    ``ratio`` is value / baseline unless the benchmark defines it otherwise (say so in
    ``note``).  ``target`` is the issue's goal, written like ``"<= 10"``; ``met`` says
    whether this run reached it.
    """

    name: str
    value: float
    unit: str
    baseline: float | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None
    note: str = ""
    extra: dict[str, float | int | str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BenchContext:
    """What every benchmark may use: a scratch directory and the ``--quick`` switch."""

    workdir: Path
    quick: bool = False


BenchFn = Callable[[BenchContext], list[BenchResult]]


def discover() -> list[tuple[str, BenchFn]]:
    """All ``(name, function)`` pairs from the modules in :mod:`fleetsim.benches`."""
    import fleetsim.benches as benches

    found: list[tuple[str, BenchFn]] = []
    for info in sorted(pkgutil.iter_modules(benches.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"fleetsim.benches.{info.name}")
        found.extend(module.BENCHMARKS)
    return found


def run_benchmarks(out_dir: Path, only: list[str] | None = None, quick: bool = False) -> Path:
    """Run the selected benchmarks, print a table and write ``bench.json``; return its path."""
    selected = [
        (name, fn)
        for name, fn in discover()
        if not only or any(fnmatch.fnmatch(name, pat) for pat in only)
    ]
    if not selected:
        names = ", ".join(name for name, _ in discover())
        raise UserError(f"--only {only!r} matches no benchmark; known: {names}")
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "work"
    work.mkdir(exist_ok=True)
    ctx = BenchContext(workdir=work, quick=quick)
    rows: list[BenchResult] = []
    for name, fn in selected:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.extend(fn(ctx))
    print(format_table(rows))
    path = out_dir / "bench.json"
    path.write_bytes(
        orjson.dumps({"benchmarks": [asdict(r) for r in rows]}, option=orjson.OPT_INDENT_2)
    )
    return path


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if x == 0 or 0.01 <= abs(x) < 1e6:
        return f"{x:,.3g}" if abs(x) < 100 else f"{x:,.0f}"
    return f"{x:.3g}"


def format_table(rows: list[BenchResult]) -> str:
    head = ("benchmark", "value", "unit", "baseline", "ratio", "target", "met")
    body = [
        (
            r.name,
            _fmt(r.value),
            r.unit,
            _fmt(r.baseline),
            _fmt(r.ratio),
            r.target or "-",
            "-" if r.met is None else ("yes" if r.met else "NO"),
        )
        for r in rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body, strict=False)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
        for row in [head, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
