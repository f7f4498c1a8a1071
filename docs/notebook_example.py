"""fleetsim from Python, as a notebook would use it: one cell per ``# %%`` block.

Run it as a script (``.venv/bin/python docs/notebook_example.py [OUT_DIR]``), or open it
in Jupyter or VS Code, which read the ``# %%`` cells.  It takes about half a minute: the
tiny scenario, three seeds, and one replay against a private emulator.
``tests/fleetsim/test_python_api.py`` runs it, so it cannot rot.
"""

# %% Setup: where things go, and the scenario every cell uses.
import sys
import tempfile
from pathlib import Path

import fleetsim

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "scenarios" / "tiny.toml"
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="fleetsim-"))

# %% Load a scenario, with an override, and simulate it (tables and KPIs in memory).
scenario = fleetsim.load_scenario(TINY, ["fleet.workers=6"])
result = fleetsim.simulate(scenario, out=OUT / "base")
print(f"{len(result.tasks)} tasks, on time {result.kpis['on_time_pct']:.1f} %")

# %% A what-if: half the fleet.  Same seed, so the same demand (common random numbers).
fleetsim.simulate(fleetsim.load_scenario(TINY, ["fleet.workers=3"]), out=OUT / "half")
run = fleetsim.read_run(OUT / "half")
print(run.tasks[["created_s", "completed_s", "on_time"]].describe().loc[["count", "mean"]])

# %% Compare the two runs.  One run each has no interval: the deltas are shown, unjudged.
runs = fleetsim.compare(OUT / "base", OUT / "half", out=OUT / "compare-runs")
print(runs.to_frame()[["metric", "base", "new", "delta", "verdict"]].head(8))

# %% Sweeps over the same seeds give paired differences with bootstrap intervals.
fleetsim.sweep(TINY, sets=["fleet.workers=6"], seeds=3, out=OUT / "sweep-6")
fleetsim.sweep(TINY, sets=["fleet.workers=3"], seeds=3, out=OUT / "sweep-3")
sweeps = fleetsim.compare(OUT / "sweep-6", OUT / "sweep-3", out=OUT / "compare-sweeps")
on_time = next(d for d in sweeps.deltas if d.metric == "on_time_pct")
print(
    f"on time: {on_time.base:.1f} -> {on_time.new:.1f} % "
    f"(paired delta {on_time.delta:+.1f}, 95% [{on_time.low:+.1f}, {on_time.high:+.1f}]: "
    f"{on_time.verdict})"
)

# %% Replay the base run's API trace against a private emulator (no host given).
results = fleetsim.replay(OUT / "base", speedup=2000, out=OUT / "replay")
print(f"replay valid: {results.valid}; calls sent {results.calls.sent} of {results.calls.planned}")
for e in results.endpoints[:3]:
    print(f"  {e.name:<40} p50 {e.p50_ms:6.1f} ms  p99 {e.p99_ms:6.1f} ms")

# %% Everything is on disk for the command line too (fleetsim compare, fleetsim report).
print(f"outputs in {OUT}")
