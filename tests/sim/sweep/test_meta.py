"""The sweep directory's metadata: corrupt files are user errors, writes are atomic."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetsim.cli import main
from sim.errors import UserError
from sim.sweep import run_sweep
from sim.sweep.meta import read_meta, write_meta
from tests.sim.sweep.test_sweep import FakeSource, _config, fake_kpis


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
