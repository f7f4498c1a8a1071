"""``fleetsim replay --webhooks``: the flags are checked at the edge (exit 2, one line) and
reach the Locust child as options, the secret only through its environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetsim.cli import main
from loadtest.providers.webhooks import WEBHOOK_SECRET_ENV
from loadtest.replay.launch import ReplayOptions, locust_command
from loadtest.replay.webhooks.options import WebhookOptions, parse_listen
from loadtest.trace.onfleet import write_trace
from sim.errors import UserError
from tests.fixtures.runs import make_day

HOST = "http://127.0.0.1:1"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--webhooks", "--webhook-fail-ratio", "1.5"],
            "--webhook-fail-ratio 1.5: must be in [0, 1)",
        ),
        (["--webhooks", "--webhook-delay-ms", "-3"], "--webhook-delay-ms -3.0: must be a number"),
        (["--webhooks", "--webhook-delay-ms", "inf"], "--webhook-delay-ms inf: must be a number"),
        (["--webhooks", "--webhook-grace", "-1"], "--webhook-grace -1.0: must be a number"),
        (["--webhooks", "--webhook-grace", "nan"], "--webhook-grace nan: must be a number"),
        (["--webhooks", "--webhook-grace", "inf"], "--webhook-grace inf: must be a number"),
        (["--webhooks", "--webhook-listen", "nowhere"], "use HOST:PORT"),
        (["--webhooks", "--webhook-public-url", "ftp://x"], "must be an http(s) URL"),
        (["--webhooks", "--webhook-public-url", "https://x.example"], "needs --webhook-listen"),
        (["--webhooks", "--webhook-secret", "zz-not-hex"], "must be hex"),
        (["--webhook-listen", "127.0.0.1:9000"], "need --webhooks"),
    ],
)
def test_bad_webhook_flags_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    write_trace(make_day(), tmp_path / "trace.jsonl")
    assert main(["replay", str(tmp_path), "--host", HOST, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert "zz-not-hex" not in err  # a secret is never shown, even a bad one


def test_the_flags_reach_locust_and_the_secret_does_not() -> None:
    hooks = WebhookOptions(
        enabled=True,
        listen="0.0.0.0:8099",
        public_url="https://hooks.example/fleet",
        delay_ms=20.0,
        fail_ratio=0.1,
        grace_s=4.0,
    )
    opts = ReplayOptions(trace=Path("t.jsonl"), host=HOST, webhooks=hooks, webhook_secret="ab" * 32)
    cmd = locust_command(opts, 10.0)
    for flag, value in [
        ("--webhook-listen", "0.0.0.0:8099"),
        ("--webhook-public-url", "https://hooks.example/fleet"),
        ("--webhook-delay-ms", "20.0"),
        ("--webhook-fail-ratio", "0.1"),
        ("--webhook-grace", "4.0"),
        ("--webhook-register", "auto"),
    ]:
        assert cmd[cmd.index(flag) + 1] == value
    assert "--webhooks" in cmd
    assert not any("ab" * 32 in part for part in cmd)
    assert opts.secret_env() == {WEBHOOK_SECRET_ENV: "ab" * 32}
    assert "ab" * 32 not in repr(opts)
    # The grace (and the longer start delay that leaves time to register) are added to
    # Locust's own run time, so the wait is never cut short.
    plain = locust_command(ReplayOptions(trace=Path("t.jsonl"), host=HOST), 10.0)
    run_time = int(cmd[cmd.index("--run-time") + 1].rstrip("s"))
    assert run_time == int(plain[plain.index("--run-time") + 1].rstrip("s")) + 4 + 2
    assert cmd[cmd.index("--start-delay") + 1] == "3.0"
    assert plain[plain.index("--start-delay") + 1] == "1.0"


def test_without_webhooks_nothing_is_added() -> None:
    cmd = locust_command(ReplayOptions(trace=Path("t.jsonl"), host=HOST), 10.0)
    assert not any(part.startswith("--webhook") for part in cmd)


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_listen("[::1]:8099") == ("::1", 8099)
    with pytest.raises(UserError):
        parse_listen("127.0.0.1:99999")
