"""Model validity against closed-form queueing results (M/M/c, Erlang C)."""

import math

import numpy as np
import pytest

from sim.run import simulate
from tests.fixtures.scenarios import make_scenario


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in an M/M/c queue with offered load a = λ/μ."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def _batch_means(x: np.ndarray, batches: int = 20) -> tuple[float, float]:
    means = np.array([b.mean() for b in np.array_split(x, batches)])
    return float(means.mean()), float(means.std(ddof=1) / math.sqrt(batches))


@pytest.mark.parametrize("c,lam_per_h,mean_s", [(3, 72.0, 120.0), (1, 20.0, 120.0)])
def test_mmc_waiting_time_matches_erlang_c(c: int, lam_per_h: float, mean_s: float) -> None:
    hours = 250.0
    sc = make_scenario(
        scenario={"duration_h": hours, "drain_h": 5.0},
        fleet={"workers": c, "shift_end_h": hours + 5.0, "capacity": 1e9},
        travel={"model": "none"},
        demand={
            "rate_per_h": lam_per_h,
            "mix": {"dropoff": 1, "pickup_dropoff": 0},
            "service": {"kind": "exponential", "mean_s": mean_s},
        },
        dispatch={"policy": "queue", "queue_rule": "oldest"},
        submission={"mode": "single", "rate_limit_rps": 0, "api_delay_s": 0},
    )
    r = simulate(sc, seed=11)
    t = r.tasks.sort_values("created_s")
    wait = (t["started_s"] - t["created_s"]).to_numpy()
    wait = wait[len(wait) // 20 :]  # drop the warm-up
    lam, mu = lam_per_h / 3600.0, 1.0 / mean_s
    a = lam / mu
    pw = erlang_c(c, a)
    wq = pw / (c * mu - lam)
    mean, se = _batch_means(wait)
    assert abs(mean - wq) < 3.5 * se + 0.02 * wq, (mean, wq, se)
    p_mean, p_se = _batch_means((wait > 1e-9).astype(float))
    assert abs(p_mean - pw) < 3.5 * p_se + 0.01, (p_mean, pw, p_se)
    # Service is untouched by the queue: the mean service time is the scenario's.
    assert math.isclose(t["service_s"].mean(), mean_s, rel_tol=0.05)
