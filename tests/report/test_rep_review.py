"""Regressions from review: a target typo caught before any run, malformed --scheduler
addresses, reused rows taking this sweep's phase, quiet local workers, --workers 0, a
damaged sweep.json, honest chart captions and whole-number ticks."""

from __future__ import annotations

import signal
import socket
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import matplotlib
import orjson
import pandas as pd
import pytest
from rep_data import TINY
from test_rep_sweep import FakeSource, _config, fake_kpis

from fleetsim.cli import main
from sim.errors import UserError
from sim.report.sweep_report import _plot_against, build_sweep_report, search_chart
from sim.sweep import run_sweep
from sim.sweep.meta import read_meta, write_meta
from sim.sweep.runner import connect, local_cluster
from sim.sweep.target import KPI_NAMES

matplotlib.use("Agg")

OUTPUTS = ("sweep.parquet", "summary.csv", "sweep.json", "report.html")


def _never(scenario: Mapping[str, Any], seed: int) -> dict[str, float]:
    raise AssertionError("no run may start")


def test_kpi_names_match_the_simulators_kpis(tiny_run_dir: Path) -> None:
    kpis = orjson.loads((tiny_run_dir / "kpis.json").read_bytes())["kpis"]
    assert tuple(kpis) == KPI_NAMES


@pytest.mark.parametrize("resume", [True, False])
def test_target_typo_fails_before_any_run_and_keeps_the_previous_sweep(
    tmp_path: Path, resume: bool
) -> None:
    sets = ("fleet.workers=4,8",)
    run_sweep(_config(tmp_path, sets=sets), source=FakeSource(), fn=fake_kpis)
    out = tmp_path / "sw"
    before = {name: (out / name).read_bytes() for name in (*OUTPUTS, "runs.jsonl")}
    cfg = _config(tmp_path, sets=sets, target="on_tme_pct>=90", resume=resume)
    with pytest.raises(UserError, match=r"unknown KPI 'on_tme_pct'; known: .*on_time_pct"):
        run_sweep(cfg, source=FakeSource(), fn=_never)
    assert {name: (out / name).read_bytes() for name in before} == before


@pytest.mark.parametrize(
    "address", ["bogus", "tcp://host", "tcp://127.0.0.1:notaport", "tcp://h:0", "foo://h:1"]
)
def test_malformed_scheduler_address_is_a_user_error(address: str) -> None:
    with pytest.raises(UserError, match=r"expected tcp://host:port") as info, connect(address):
        pass
    assert repr(address) in str(info.value)


def test_cli_malformed_scheduler_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sweep", str(TINY), "--scheduler", "bogus", "--seeds", "2", "--out", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "'bogus'" in err and "tcp://host:port" in err


def test_cli_workers_below_one_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sweep", str(TINY), "--workers", "0", "--seeds", "2", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--workers 0" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_resumed_rows_take_this_sweeps_phase(tmp_path: Path) -> None:
    # A target search evaluates fleet 13 (see test_target_search_with_fake_kpi) ...
    first = run_sweep(
        _config(tmp_path, sets=("fleet.workers=4,8",), target="on_time_pct>=60"),
        source=FakeSource(),
        fn=fake_kpis,
    )
    ((_, search),) = first.searches
    assert search.fleet == 13
    # ... then a grid asks for fleet 13: its rows are reused, and they are grid rows now.
    second = run_sweep(
        _config(tmp_path, sets=("fleet.workers=8,13",), resume=True),
        source=FakeSource(),
        fn=_never,
    )
    assert {r.phase for r in second.rows} == {"grid"}
    df = pd.read_parquet(second.out_dir / "sweep.parquet")
    assert (df["phase"] == "grid").all() and sorted(set(df["fleet.workers"])) == [8, 13]
    summary = pd.read_csv(second.out_dir / "summary.csv")
    assert summary["fleet.workers"].tolist() == [8, 13]
    page, _ = build_sweep_report(second.out_dir)
    assert "fleet.workers=13" in page or ">13<" in page


def test_corrupt_sweep_json_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_sweep(_config(tmp_path, sets=("fleet.workers=4,8",)), source=FakeSource(), fn=fake_kpis)
    out = tmp_path / "sw"
    for damaged in (b'{"scenario": "x", "par', b"[1, 2]", b'{"unexpected": 1}'):
        (out / "sweep.json").write_bytes(damaged)
        with pytest.raises(UserError, match=r"sweep\.json"):
            read_meta(out)
        assert main(["report", str(out)]) == 2
        err = capsys.readouterr().err
        assert "sweep.json" in err and "Traceback" not in err, err


def test_write_meta_replaces_the_file_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_sweep(_config(tmp_path, sets=("fleet.workers=4",)), source=FakeSource(), fn=fake_kpis)
    out = tmp_path / "sw"
    meta = read_meta(out)
    good = (out / "sweep.json").read_bytes()

    def torn(self: Path, data: bytes) -> int:  # a crash half-way through the write
        Path.write_text(self, data[: len(data) // 2].decode())
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_bytes", torn)
    with pytest.raises(OSError, match="disk full"):
        write_meta(meta, out)
    monkeypatch.undo()
    assert (out / "sweep.json").read_bytes() == good
    write_meta(meta, out)
    assert read_meta(out) == meta
    assert not list(out.glob("*.tmp"))


def test_kpi_caption_does_not_overclaim(tmp_path: Path) -> None:
    run_sweep(_config(tmp_path, sets=("fleet.workers=4,8",)), source=FakeSource(), fn=fake_kpis)
    html = (tmp_path / "sw" / "report.html").read_text()
    assert "really differ" not in html and "need more seeds" not in html
    assert "do not show there is none" in html and "paired differences" in html


def _integer_ticks(ax: Any) -> bool:
    ax.figure.canvas.draw()
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    return bool(ticks) and all(float(t).is_integer() for t in ticks)


def test_whole_number_parameters_get_integer_ticks() -> None:
    import matplotlib.pyplot as plt

    # Fleet sizes read back as floats (e.g. from a CSV) are still whole numbers.
    summary = pd.DataFrame(
        {
            "fleet.workers": [3.0, 4.0],
            "on_time_pct_mean": [80.0, 90.0],
            "on_time_pct_ci_low": [78.0, 88.0],
            "on_time_pct_ci_high": [82.0, 92.0],
        }
    )
    fig, ax = plt.subplots()
    _plot_against(ax, summary, "on_time_pct", "fleet.workers", [], None)
    assert _integer_ticks(ax)
    plt.close(fig)


def test_search_chart_has_integer_fleet_ticks(tmp_path: Path) -> None:
    run_sweep(
        _config(tmp_path, sets=("fleet.workers=3,4",), target="on_time_pct>=60", report=False),
        source=FakeSource(),
        fn=fake_kpis,
    )
    meta = read_meta(tmp_path / "sw")
    target = meta.target_record()
    assert target is not None
    captured: list[Any] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sim.report.figures.render", lambda fig: captured.append(fig) or b"")
        search_chart(meta, target)
    (fig,) = captured
    assert _integer_ticks(fig.axes[0])


@pytest.fixture
def port_8787() -> Iterator[None]:
    """Hold 8787, as another sweep's scheduler would (skip if something else has it)."""
    s = socket.socket()
    try:
        s.bind(("0.0.0.0", 8787))
    except OSError:
        s.close()
        pytest.skip("port 8787 is busy")
    s.listen()
    try:
        yield
    finally:
        s.close()


@pytest.mark.slow
def test_local_workers_ignore_sigint_and_leave_8787_alone(port_8787: None) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with local_cluster(1) as client:
            handlers = client.run(lambda: int(signal.getsignal(signal.SIGINT)))
            assert list(handlers.values()) == [int(signal.SIG_IGN)]
    assert not [w for w in caught if "already in use" in str(w.message)]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
