"""``fleetsim emulate``'s webhook flags: the secret (flag, environment, printed demo
secret; a configured one never printed), the time factor, --webhook and the loopback
guard, each bad value an exit 2 naming the flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetsim.cli import build_parser, main
from fleetsim.commands.emulate import _announce, config_from_args
from loadtest.providers.webhooks import DEMO_WEBHOOK_SECRET

SECRET = "c0ffee00" * 8


def _cfg(*argv: str) -> object:
    return config_from_args(build_parser().parse_args(["emulate", *argv]))


def test_secret_from_flag_env_or_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLEETSIM_WEBHOOK_SECRET", raising=False)
    assert _cfg().webhooks.secret == DEMO_WEBHOOK_SECRET  # type: ignore[attr-defined]
    monkeypatch.setenv("FLEETSIM_WEBHOOK_SECRET", SECRET)
    assert _cfg().webhooks.secret == SECRET  # type: ignore[attr-defined]
    other = "ab" * 16
    assert _cfg("--webhook-secret", other).webhooks.secret == other  # type: ignore[attr-defined]


def test_announce_prints_demo_secret_never_the_real_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLEETSIM_WEBHOOK_SECRET", raising=False)
    _announce(_cfg(), "http://127.0.0.1:1")  # type: ignore[arg-type]
    assert DEMO_WEBHOOK_SECRET in capsys.readouterr().err
    _announce(_cfg("--webhook-secret", SECRET), "http://127.0.0.1:1")  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert SECRET not in err and "configured secret" in err
    _announce(_cfg("--webhook", "nash=http://me:pw@127.0.0.1:9/h"), "http://127.0.0.1:1")  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert "nash -> http://127.0.0.1:9/h" in err and "pw" not in err


def test_flags_reach_the_config() -> None:
    cfg = _cfg(
        "--webhook-time-factor",
        "0.001",
        "--webhook",
        "nash=http://127.0.0.1:9000/hook",
        "--webhook",
        "onfleet=http://localhost:9000/hook",
    ).webhooks  # type: ignore[attr-defined]
    assert cfg.time_factor == 0.001 and not cfg.allow_remote
    assert cfg.endpoints == (
        "nash=http://127.0.0.1:9000/hook",
        "onfleet=http://localhost:9000/hook",
    )
    remote = _cfg("--allow-remote-webhooks", "--webhook", "hypertrack=http://192.0.2.1/h")
    assert remote.webhooks.allow_remote  # type: ignore[attr-defined]


def test_bad_webhook_flags_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLEETSIM_WEBHOOK_SECRET", raising=False)
    bad_secret = "zz" * 20
    assert main(["emulate", "--webhook-secret", bad_secret]) == 2
    assert main(["emulate", "--webhook-secret", "abcd"]) == 2
    assert main(["emulate", "--webhook-time-factor", "-1"]) == 2
    assert main(["emulate", "--webhook", "slack=http://127.0.0.1/h"]) == 2
    assert main(["emulate", "--webhook", "nash=ftp://127.0.0.1/h"]) == 2
    assert main(["emulate", "--webhook", "nash=http://192.0.2.1/h"]) == 2
    monkeypatch.setenv("FLEETSIM_WEBHOOK_SECRET", "not-hex-at-all")
    assert main(["emulate"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 7
    assert "--allow-remote-webhooks" in err and "FLEETSIM_WEBHOOK_SECRET" in err
    assert bad_secret not in err and "not-hex-at-all" not in err


def test_credentials_in_a_refused_webhook_url_are_never_echoed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = "http://alice:s3cret-pw@192.0.2.1:9000/hook?token=t0ken"
    assert main(["emulate", "--webhook", f"onfleet={url}"]) == 2
    err = capsys.readouterr().err
    assert "--allow-remote-webhooks" in err
    assert "s3cret-pw" not in err and "t0ken" not in err
    # A secret of the wrong type in a profile file is named, never shown.
    profile = tmp_path / "p.toml"
    profile.write_text('profile = "fast"\n[webhooks]\nsecret = 123456789\n')
    assert main(["emulate", "--profile", str(profile)]) == 2
    err = capsys.readouterr().err
    assert "secret" in err and "123456789" not in err and "Traceback" not in err
