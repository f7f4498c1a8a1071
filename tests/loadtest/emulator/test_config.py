"""Profiles, TOML overrides, the ``emulate`` command's input checks, and seeded faults."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from fleetsim.cli import main
from fleetsim.commands.emulate import config_from_args
from loadtest.emulator.config import (
    FaultConfig,
    LatencyConfig,
    RouteLatency,
    load_profile,
)
from loadtest.emulator.middleware.latency import LatencyMiddleware
from sim.errors import UserError
from tests.loadtest.emulator.helpers import KEY, bearer, make_client, onfleet_auth


def args(**kw: object) -> argparse.Namespace:
    base = {"profile": "fast", "api_key": [], "port": 8080, "db": None, "seed": None}
    base.update(kw)
    return argparse.Namespace(**base)


def test_profiles() -> None:
    fast = load_profile("fast")
    assert not fast.latency.enabled and fast.rate_limit.onfleet_per_s is None
    real = load_profile("realistic")
    assert real.rate_limit.onfleet_per_s == 20 and real.container_cap == 10_000
    assert real.latency.enabled and real.faults.error_rate > 0


def test_toml_overrides_any_field(tmp_path: Path) -> None:
    p = tmp_path / "p.toml"
    p.write_text(
        'profile = "realistic"\nseed = 9\n[rate_limit]\nonfleet_per_s = 40\n'
        '[latency.routes."POST /api/v2/tasks"]\nmedian_ms = 5.0\np99_ms = 9.0\n'
        '[region]\nfailing_markers = ["atlantis"]\n'
    )
    cfg = load_profile(str(p))
    assert cfg.seed == 9 and cfg.rate_limit.onfleet_per_s == 40
    assert cfg.latency.routes["POST /api/v2/tasks"] == RouteLatency(5.0, 9.0)
    assert cfg.latency.routes["POST /api/v2/tasks/batch"].median_ms == 300.0  # kept
    assert cfg.region.failing_markers == ("atlantis",)
    assert cfg.profile.startswith("realistic")


@pytest.mark.parametrize(
    "text",
    [
        "nope = 1\n",
        '[rate_limit]\nonfleet_per_s = "x"\n',
        'profile = "slow"\n',
        "[faults]\nerror_rate = true\n",
        "not toml [",
    ],
)
def test_bad_toml_is_a_user_error(tmp_path: Path, text: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(UserError):
        load_profile(str(p))


def test_cli_bad_input_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["emulate", "--profile", "nope"]) == 2
    assert main(["emulate", "--api-key", "short"]) == 2
    assert main(["emulate", "--port", "70000"]) == 2
    assert main(["emulate", "--db", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 4


def test_keys_from_flag_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETSIM_API_KEYS", "env-key-0001, env-key-0002")
    cfg = config_from_args(args(api_key=["flag-key-0001"], seed=5))
    assert cfg.api_keys == ("flag-key-0001", "env-key-0001", "env-key-0002")
    assert cfg.seed == 5


def test_lognormal_latency_matches_median_and_p99() -> None:
    import numpy as np

    cfg = LatencyConfig(enabled=True, default=RouteLatency(50.0, 400.0))
    mw = LatencyMiddleware(lambda s, r, q: None, cfg, np.random.default_rng(1))  # type: ignore[arg-type,return-value]
    draws = np.array([mw.draw_ms("GET /x") for _ in range(20_000)])
    assert np.median(draws) == pytest.approx(50.0, rel=0.05)
    assert np.quantile(draws, 0.99) == pytest.approx(400.0, rel=0.12)


def test_seeded_faults_answer_in_provider_shape() -> None:
    faults = FaultConfig(error_rate=0.3)

    def run() -> list[int]:
        with make_client(faults=faults, seed=11) as client:
            codes = []
            for _ in range(40):
                r = client.get("/api/v2/auth/test", headers=onfleet_auth())
                codes.append(r.status_code)
                if r.status_code == 503:
                    assert r.json()["message"]["error"] == 2500
            r = client.get("/v1/jobs/x", headers=bearer())
            if r.status_code == 503:
                assert r.json()[0]["error"]["code"] == "INTERNAL_SERVER_ERROR"
            return codes

    first, second = run(), run()
    assert first == second  # same seed, same faults
    assert 3 <= first.count(503) <= 25 and set(first) <= {200, 503}


def test_same_seed_same_ids() -> None:
    def ids() -> list[str]:
        with make_client(seed=3) as c:
            body = {"tasks": [{"destination": {"location": [-122.4, 37.7]}}] * 3}
            return [
                t["id"]
                for t in c.post("/api/v2/tasks/batch", json=body, headers=onfleet_auth()).json()[
                    "tasks"
                ]
            ]

    assert ids() == ids()
    assert KEY


def test_port_in_use_is_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    from loadtest.emulator.serve import bind

    with bind() as s:
        s.listen()
        port = s.getsockname()[1]
        assert main(["emulate", "--port", str(port)]) == 2
    assert "cannot listen" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("[rate_limit]\nwindow_s = 0.0\n", "rate_limit.window_s", "0.0"),
        ("[rate_limit]\nwindow_s = -1\n", "rate_limit.window_s", "-1"),
        ("[rate_limit]\nwindow_s = inf\n", "rate_limit.window_s", "inf"),
        ("[faults]\nerror_rate = 5.0\n", "faults.error_rate", "5.0"),
        ("[faults]\nslow_rate = -0.1\n", "faults.slow_rate", "-0.1"),
        ("[faults]\nerror_rate = 0.6\nslow_rate = 0.6\n", "faults.error_rate", "1.2"),
        ("[faults]\nerror_status = 200\n", "faults.error_status", "200"),
        ("[faults]\nslow_ms = nan\n", "faults.slow_ms", "nan"),
        ("max_body_bytes = -1\n", "max_body_bytes", "-1"),
        ("max_body_bytes = 0\n", "max_body_bytes", "0"),
        ("seed = -3\n", "seed", "-3"),
        ("[region]\nlat = 500\n", "region.lat", "500"),
        ("[region]\nlon = -181.0\n", "region.lon", "-181.0"),
        ("[region]\nradius_m = 0\n", "region.radius_m", "0"),
        ("[region]\nfailing_markers = [1, 2]\n", "region.failing_markers[0]", "1"),
        ('[region]\nfailing_markers = ["ok", ""]\n', "region.failing_markers[1]", "''"),
        ("nash_providers = [{a = 1}]\n", "nash_providers[0]", "{'a': 1}"),
        ("api_keys = [7]\n", "api_keys[0]", "7"),
        ("async_tasks_per_s = -5.0\n", "async_tasks_per_s", "-5.0"),
        ("container_lock_wait_ms = -1\n", "container_lock_wait_ms", "-1"),
        ("[latency.default]\nmedian_ms = -1.0\n", "latency.default.median_ms", "-1.0"),
        (
            '[latency.routes."GET /x"]\np99_ms = -2\n',
            "latency.routes.GET /x.p99_ms",
            "-2",
        ),
        ("[latency]\nbatch_per_task_ms = -4.0\n", "latency.batch_per_task_ms", "-4.0"),
    ],
)
def test_profile_ranges_are_checked(tmp_path: Path, text: str, key: str, value: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(UserError) as info:
        load_profile(str(p))
    msg = str(info.value)
    assert key in msg and value in msg and "allowed" in msg, msg


def test_profile_in_range_edges_load(tmp_path: Path) -> None:
    p = tmp_path / "ok.toml"
    p.write_text(
        "max_body_bytes = 1\n[faults]\nerror_rate = 1.0\nerror_status = 599\n"
        "[region]\nlat = -90\nlon = 180\nfailing_markers = []\n"
        "[rate_limit]\nwindow_s = 0.001\n"
    )
    cfg = load_profile(str(p))
    assert cfg.faults.error_rate == 1.0 and cfg.region.lat == -90.0
    assert cfg.region.failing_markers == () and cfg.rate_limit.window_s == 0.001


def test_cli_bad_profile_range_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text("[region]\nfailing_markers = [1, 2]\n")
    assert main(["emulate", "--profile", str(p)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "region.failing_markers" in err
