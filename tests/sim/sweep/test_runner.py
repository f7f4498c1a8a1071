"""The Dask runner: scheduler addresses, worker counts, local workers that ignore Ctrl-C."""

from __future__ import annotations

import signal
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetsim.cli import main
from sim.errors import UserError
from sim.sweep.runner import connect, local_cluster
from tests.fixtures.runs import TINY


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
    # The parent's handler as it was (default_int_handler; SIG_IGN in a pytest-xdist worker)
    before = signal.getsignal(signal.SIGINT)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with local_cluster(1) as client:
            handlers = client.run(lambda: int(signal.getsignal(signal.SIGINT)))
            assert list(handlers.values()) == [int(signal.SIG_IGN)]
    assert not [w for w in caught if "already in use" in str(w.message)]
    assert signal.getsignal(signal.SIGINT) is before
