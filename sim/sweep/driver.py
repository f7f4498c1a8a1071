"""``run_sweep``: the grid × seeds on an executor, the fleet-size search, and the outputs.

Concepts held here:

* :class:`ScenarioSource` -- where variants come from: :class:`FileScenarios` reads a
  scenario file once and validates each variant once, in this process (bad ``--set`` values fail
  before any run starts); tests plug in sources with known answers.
* :func:`run_sweep` -- plan the runs, skip those a previous attempt finished
  (``--resume``), run the rest on Dask (or serially), journal each row as it lands, run
  the target searches in lock-step, and write ``sweep.parquet``, ``summary.csv``,
  ``paired.csv`` (with ``--baseline-variant``), ``sweep.json`` and the report.
"""

from __future__ import annotations

import copy
import math
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from sim.errors import UserError
from sim.kpis import kpi_bounds
from sim.sweep.config import SweepConfig
from sim.sweep.grid import (
    FLEET,
    RunSpec,
    Variant,
    expand_grid,
    parse_sets,
    plan_runs,
    replication_seeds,
)
from sim.sweep.meta import SweepMeta, write_meta
from sim.sweep.paired import paired_table, parse_baseline, write_paired
from sim.sweep.runner import (
    DaskExecutor,
    RunExecutor,
    RunRow,
    SerialExecutor,
    SimFn,
    connect,
    local_cluster,
    simulate_kpis,
)
from sim.sweep.stats import Interval, mean_ci
from sim.sweep.store import RunJournal, clear_outputs, kpi_names, rows_frame, write_table
from sim.sweep.summary import kpi_columns, summarise, write_summary
from sim.sweep.target import FleetSearch, SearchResult, Target, parse_target


class ScenarioSource(Protocol):
    """Validated scenario objects for variants, plus what the sweep needs to know."""

    name: str
    key: str  # changes whenever the scenario's content changes (part of every run_id)
    base_seed: int

    def load(self, variant: Variant) -> Any: ...

    def fleet_size(self, scenario: Any) -> int | None: ...


class FileScenarios:
    """Variants of a scenario file: the file is read once, and each variant's typed values
    are set on a copy of its raw mapping, then validated (``sim.scenario_io.parse_scenario``)."""

    def __init__(self, path: Path) -> None:
        from sim.scenario_io import parse_scenario, read_scenario_file

        if not path.is_file():
            raise UserError(f"scenario {str(path)!r}: no such file")
        self.path = path
        self._parse = parse_scenario
        self._raw = read_scenario_file(path)
        base = self._validate(copy.deepcopy(self._raw))
        self.name = base.name
        self.key = base.content_hash()
        self.base_seed = base.scenario.seed

    def _validate(self, raw: dict[str, Any]) -> Any:
        return self._parse(raw, source=str(self.path), base_dir=self.path.parent)

    def load(self, variant: Variant) -> Any:
        from sim.scenario_io import set_field

        raw = copy.deepcopy(self._raw)
        for (path, value), item in zip(variant.settings, variant.overrides, strict=True):
            set_field(raw, path, value, item)
        return self._validate(raw)

    def fleet_size(self, scenario: Any) -> int | None:
        fleet = getattr(scenario, "fleet", None)
        n = getattr(fleet, "workers", None)
        return n if isinstance(n, int) else None


@dataclass
class SweepResult:
    """What a sweep produced: every row, the searches' answers and the files written."""

    out_dir: Path
    rows: list[RunRow]
    searches: list[tuple[Variant, SearchResult]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @property
    def failed(self) -> list[RunRow]:
        return [r for r in self.rows if not r.ok]


class _Session:
    """The running state of one sweep: variants loaded once, rows by run id, the journal."""

    executor: RunExecutor
    journal: RunJournal
    bar: tqdm[Any]

    def __init__(self, source: ScenarioSource, fn: SimFn) -> None:
        self.source, self.fn = source, fn
        self.scenarios: dict[Variant, Any] = {}
        self.rows: dict[str, RunRow] = {}
        self.order: list[str] = []

    def scenario(self, variant: Variant) -> Any:
        if variant not in self.scenarios:
            self.scenarios[variant] = self.source.load(variant)
        return self.scenarios[variant]

    def run(self, specs: Sequence[RunSpec]) -> None:
        """Run the specs not already done (in this sweep or, with --resume, before)."""
        todo: list[tuple[RunSpec, Any]] = []
        for spec in specs:
            if spec.run_id in self.rows:
                continue
            self.order.append(spec.run_id)
            earlier = self.journal.finished(spec.run_id)
            if earlier is not None:
                # The row is this sweep's now: a variant an earlier search ran and this grid
                # asks for is a grid row (the report keeps phase == "grid").
                self.rows[spec.run_id] = replace(earlier, phase=spec.phase)
                continue
            todo.append((spec, self.scenario(spec.variant)))
        if self.bar.total is None:
            self.bar.total = 0
        self.bar.total += len(todo)
        self.bar.refresh()
        self.executor.run(self.fn, todo, self._done)

    def _done(self, row: RunRow) -> None:
        self.journal.append(row)
        self.rows[row.run_id] = row
        self.bar.update(1)
        if row.error:
            self.bar.write(
                f"run {row.run_id} (seed {row.seed}) failed: {row.error}", file=sys.stderr
            )

    def values(self, specs: Sequence[RunSpec], kpi: str) -> list[float]:
        """``kpi`` of each spec's run, in the specs' (seed) order; NaN for a failed run."""
        return [self.rows[s.run_id].kpi(kpi) for s in specs]

    def interval(self, specs: Sequence[RunSpec], kpi: str) -> Interval:
        return mean_ci(self.values(specs, kpi), bounds=kpi_bounds(kpi))


@contextmanager
def _executor(config: SweepConfig) -> Iterator[RunExecutor]:
    if config.serial:
        yield SerialExecutor()
        return
    cm: AbstractContextManager[Any]
    if config.scheduler:
        cm = connect(config.scheduler)
    else:
        n = config.workers if config.workers is not None else os.cpu_count() or 1
        cm = local_cluster(n)
    with cm as client:
        yield DaskExecutor(client)


def variant_warnings(variants: Iterable[tuple[Variant, Any]]) -> list[str]:
    """``fleetsim validate``'s warnings (:mod:`sim.scenario_checks`) for every variant, each
    once: a warning every variant shares is printed plain, one that only some variants
    have names them (``fleet.workers=60: ...``)."""
    from sim.scenario import Scenario
    from sim.scenario_checks import check_scenario

    by_text: dict[str, list[str]] = {}
    n = 0
    for v, scenario in variants:
        n += 1
        if not isinstance(scenario, Scenario):
            continue
        label = ", ".join(v.overrides) or "the scenario"
        for w in check_scenario(scenario):
            by_text.setdefault(str(w), []).append(label)
    return [
        text if len(labels) == n else f"{'; '.join(labels)}: {text}"
        for text, labels in by_text.items()
    ]


def run_sweep(
    config: SweepConfig,
    source: ScenarioSource | None = None,
    fn: SimFn = simulate_kpis,
    executor: RunExecutor | None = None,
) -> SweepResult:
    """Run a sweep end to end and write its outputs (see the module docstring)."""
    if config.workers is not None and config.workers < 1:
        raise UserError(f"--workers {config.workers}: need at least 1 (omit it for one per CPU)")
    params = parse_sets(config.sets)
    variants = expand_grid(params)
    # Check the KPI name now: a typo found after the grid ran would already have cost the
    # runs and cleared the previous sweep's outputs.
    target = parse_target(config.target) if config.target else None
    if target is not None and config.seeds < 2:
        raise UserError(
            f"--seeds {config.seeds}: --target needs at least 2 replications for an interval"
        )
    src = source if source is not None else FileScenarios(config.scenario)
    out_dir = config.out_dir or Path("results") / f"sweep-{src.name}"
    seeds = replication_seeds(src.base_seed, config.seeds)
    fleet_param = next((p for p in params if p.path == FLEET), None)
    if (
        target is not None
        and fleet_param is not None
        and not all(isinstance(v, int) and not isinstance(v, bool) for v in fleet_param.values)
    ):
        raise UserError(f"--set {FLEET}: fleet sizes must be whole numbers for --target")
    if target is not None and fleet_param is None:
        # Record the scenario's own fleet size on the grid rows, so the search reuses them
        # (same run ids) and the tables say which fleet every row ran with.
        base_fleet = src.fleet_size(src.load(Variant(())))
        if base_fleet is not None:
            variants = [v.with_value(FLEET, base_fleet) for v in variants]

    baseline = (
        parse_baseline(config.baseline_variant, params, variants)
        if config.baseline_variant is not None
        else None
    )

    session = _Session(src, fn)
    # Validate every variant before any run starts, and say what looks wrong in them.
    for line in variant_warnings([(v, session.scenario(v)) for v in variants]):
        print(f"fleetsim sweep: warning: {line}", file=sys.stderr)
    ex_cm: AbstractContextManager[RunExecutor] = (
        nullcontext(executor) if executor is not None else _executor(config)
    )
    show = sys.stderr.isatty() if config.progress is None else config.progress
    searches: list[tuple[Variant, SearchResult]] = []
    with ex_cm as ex:  # connect first: a bad --scheduler leaves the output alone
        clear_outputs(out_dir)  # a stale table must not pass for this sweep's
        session.executor = ex
        session.journal = RunJournal(out_dir, resume=config.resume)
        session.bar = tqdm(
            total=0, unit="run", desc="sweep", disable=not show, file=sys.stderr, delay=0.3
        )
        try:
            session.run(plan_runs(src.key, variants, seeds))
            if target is not None:
                _check_kpi(target, session.rows.values())
                searches = _search(session, variants, seeds, target, config, src)
        finally:
            session.bar.close()
            session.journal.close()

    rows = [session.rows[r] for r in session.order]
    param_paths = [p.path for p in params]
    df = rows_frame(rows, param_paths)
    files = [write_table(df, out_dir)]
    all_params = [c for c in df.columns if c in {p for r in rows for p, _ in r.params}]
    summary = summarise(df, all_params, target)
    if all_params and len(summary):
        summary = summary.sort_values(all_params, kind="stable", na_position="first")
    files.append(write_summary(summary, out_dir))
    if baseline is not None:
        paired = paired_table(df, all_params, kpi_columns(df, all_params), baseline.params)
        files.append(write_paired(paired, out_dir))
    meta = SweepMeta.build(
        config, src.name, src.key, params, seeds, target, searches, rows, baseline
    )
    files.append(write_meta(meta, out_dir))
    result = SweepResult(out_dir, rows, searches, files)
    if config.report:
        from sim.report.sweep_report import write_sweep_report

        result.files.append(write_sweep_report(out_dir))
    return result


def _check_kpi(target: Target, rows: Iterable[RunRow]) -> None:
    """A target naming a KPI the runs do not report is a typo, not an unmeetable target."""
    known = kpi_names(r for r in rows if r.ok)
    if known and target.kpi not in known:
        raise UserError(
            f"--target {target}: unknown KPI {target.kpi!r}; known: {', '.join(known)} "
            "(the grid's runs are kept: fix the target and add --resume)"
        )


def _search(
    session: _Session,
    variants: Sequence[Variant],
    seeds: Sequence[int],
    target: Target,
    config: SweepConfig,
    src: ScenarioSource,
) -> list[tuple[Variant, SearchResult]]:
    """One fleet-size bisection per combination of the other parameters, in lock-step so
    each round's points run as one parallel batch (replications at every point)."""
    bases: list[Variant] = []
    for v in variants:
        b = v.without(FLEET)
        if b not in bases:
            bases.append(b)
    swept = [int(val) for v in variants for p, val in v.items if p == FLEET]
    if swept:
        start = max(swept)
    else:
        base_fleet = src.fleet_size(session.scenario(variants[0]))
        if base_fleet is None:
            raise UserError("--target: cannot tell the scenario's fleet size; give --fleet-range")
        start = base_fleet
    lo, hi = config.fleet_range or (1, max(8 * start, 8))
    searches = [FleetSearch(target, start, lo, hi) for _ in bases]
    for b in bases:  # a bad override at some fleet size fails here, before any run
        session.scenario(b.with_value(FLEET, start))
    while True:
        batch: list[tuple[FleetSearch, list[RunSpec]]] = []
        for b, s in zip(bases, searches, strict=True):
            n = s.next_point()
            if n is not None:
                batch.append((s, plan_runs(src.key, [b.with_value(FLEET, n)], seeds, "search")))
        if not batch:
            break
        session.run([spec for _, specs in batch for spec in specs])
        for s, specs in batch:
            fleet = int(dict(specs[0].variant.items)[FLEET])
            s.record(fleet, session.interval(specs, target.kpi), session.values(specs, target.kpi))
    results: list[tuple[Variant, SearchResult]] = []
    for b, s in zip(bases, searches, strict=True):
        r = s.result()
        best = r.best
        if r.fleet is None and best is not None:
            specs = plan_runs(src.key, [b.with_value(FLEET, best.fleet)], seeds, "search")
            r = _with_ceiling(r, [session.rows[x.run_id] for x in specs])
        results.append((b, r))
    return results


def _with_ceiling(result: SearchResult, rows: Sequence[RunRow]) -> SearchResult:
    """Say what caps the target KPI whatever the fleet, where the model knows it.

    A failed task (random failures and recipients' no-shows alike) and a task the
    merchant cancelled are never on time, so ``on_time_pct`` cannot pass
    ``100·(created − failed − cancelled)/created`` (averaged over the seeds at the best
    fleet tried): the failure, no-show and cancellation rates cap it, not the fleet size."""
    if result.target.kpi != "on_time_pct":
        return result

    def lost(r: RunRow, name: str) -> float:
        v = r.kpi(name)
        return 0.0 if math.isnan(v) else v  # older runs have no cancellations

    runs = [r for r in rows if r.ok and r.kpi("tasks_created") > 0]
    caps, failed, no_show, cancelled = [], [], [], []
    for r in runs:
        n = r.kpi("tasks_created")
        f, c = lost(r, "tasks_failed"), lost(r, "tasks_cancelled")
        caps.append(100.0 * (n - f - c) / n)
        failed.append(100.0 * f / n)
        no_show.append(100.0 * lost(r, "tasks_no_show") / n)
        cancelled.append(100.0 * c / n)
    if not caps or not all(math.isfinite(c) for c in caps):
        return result

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs)

    parts = []
    if mean(failed) > 0:
        shows = f", {mean(no_show):.1f}% no-shows" if mean(no_show) > 0 else ""
        parts.append(f"failed tasks ({mean(failed):.1f}% of those created{shows})")
    if mean(cancelled) > 0:
        parts.append(f"cancelled tasks ({mean(cancelled):.1f}%)")
    if not parts:
        parts.append("failed tasks (0.0% of those created)")
    return replace(
        result,
        ceiling=mean(caps),
        ceiling_reason=f"{' and '.join(parts)} are never on time, which caps on_time_pct",
    )
