"""The M/M/20 benchmark's pieces: its estimators, and fleetsim agreeing with Ciw."""

import math

import numpy as np
import pytest

from fleetsim.benches.sim import (
    agreement,
    erlang_c_wait_s,
    mmc_scenario,
    queue_stats,
    run_ciw_mmc,
    run_fleetsim_mmc,
)


def test_erlang_c_matches_mm1() -> None:
    # M/M/1: Wq = rho / (mu - lambda) = rho * mean / (1 - rho).
    assert math.isclose(erlang_c_wait_s(1, 0.5, 2.0), 2.0)
    assert math.isclose(erlang_c_wait_s(1, 0.9, 120.0), 0.9 * 120.0 / 0.1)


def test_queue_stats_on_a_known_stream() -> None:
    # One arrival a second, each bringing 1.5 s of work, on 2 servers: utilisation 0.75.
    n = 20_000
    arrival = np.arange(n, dtype=float)
    wait = np.where(np.arange(n) % 2 == 0, 0.0, 4.0)
    stats = queue_stats(arrival[::-1].copy(), wait[::-1].copy(), np.full(n, 1.5), 2)
    assert stats["wait_s"][0] == pytest.approx(2.0)
    assert stats["utilisation"][0] == pytest.approx(0.75, rel=2e-3)
    assert 0.0 <= stats["utilisation"][1] < 1e-3


def test_agreement_is_a_z_score() -> None:
    z = agreement({"x": (10.0, 3.0)}, {"x": (2.0, 4.0)})
    assert z["x"] == pytest.approx(8.0 / 5.0)


def test_scenario_is_mm20_at_rho_09() -> None:
    sc = mmc_scenario(10_000)
    assert sc.fleet.workers == 20
    assert sc.demand.rate_per_h == pytest.approx(540.0)
    assert sc.scenario.duration_h * sc.demand.rate_per_h == pytest.approx(10_000)


@pytest.mark.slow
def test_fleetsim_and_ciw_agree_on_mm20() -> None:
    n = 30_000
    _, f_n, f = run_fleetsim_mmc(n)
    _, c_n, c = run_ciw_mmc(n)
    assert c_n == n
    assert abs(f_n - n) < 5 * math.sqrt(n)  # Poisson arrivals over the stated hours
    z = agreement(f, c)
    assert z["wait_s"] < 3.5 and z["utilisation"] < 3.5, (f, c)
    for stats in (f, c):
        assert abs(stats["utilisation"][0] - 0.9) < 3.5 * stats["utilisation"][1] + 0.01
