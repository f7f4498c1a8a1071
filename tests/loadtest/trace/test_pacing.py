"""Pacing: the trace paces every call of a rate-limited provider like the SDKs do."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pytest

from loadtest.providers import nash, onfleet
from loadtest.trace.format import TraceCall
from loadtest.trace.onfleet import TraceOptions, build_trace
from loadtest.trace.ops import OPS
from loadtest.trace.pacing import DOCUMENTED_RATES, pace, pacing_rates, parse_client_rate
from sim.errors import UserError
from sim.scenario import Submission
from sim.submission import ClientLimiter
from tests.fixtures.scenarios import REPO


@dataclass
class D:
    at_s: float
    provider: str = "onfleet"
    deps: list[int] = field(default_factory=list)
    after: list[int] = field(default_factory=list)
    driver_app: bool = False


def _max_in_window(times: list[float], window_s: float = 1.0) -> int:
    """The most calls in any half-open window ``(t - window_s, t]`` (what a rolling
    server window counts), with a microsecond tolerance for the trace's rounding."""
    ts = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ts):
        while ts[lo] <= t - window_s + 1e-6:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_a_burst_leaves_evenly_spaced() -> None:
    drafts = [D(0.0) for _ in range(100)]
    pace(drafts, {"onfleet": 20.0})
    assert [d.at_s for d in drafts] == pytest.approx([i * 0.05 for i in range(100)])
    assert _max_in_window([d.at_s for d in drafts]) == 20


def test_unlimited_and_driver_app_calls_are_not_paced() -> None:
    drafts = [D(0.0) for _ in range(30)]
    drafts += [D(0.0, driver_app=True) for _ in range(30)]
    drafts += [D(0.0, provider="hypertrack") for _ in range(30)]
    pace(drafts, {"onfleet": 20.0})
    assert all(d.at_s == 0.0 for d in drafts[30:])
    assert drafts[29].at_s == pytest.approx(29 * 0.05)


def test_dependencies_stay_in_order_and_do_not_hold_back_others() -> None:
    # 0..19 fill the first second; 20 waits for 19; 21 (ready at 0.5, independent) must
    # not queue behind 20's dependency, and 22 waits for 20 (an `after` edge).
    drafts = [D(0.0) for _ in range(20)] + [D(0.0, deps=[19]), D(0.5), D(0.0, after=[20])]
    pace(drafts, {"onfleet": 20.0})
    at = [d.at_s for d in drafts]
    assert at[20] >= at[19] and at[22] >= at[20]
    assert at[21] == pytest.approx(1.0)  # the first free slot after 0.5, before 20
    assert at[20] == pytest.approx(1.05) and at[22] == pytest.approx(1.10)


def test_each_provider_has_its_own_limiter() -> None:
    drafts = [D(0.0) for _ in range(5)] + [D(0.0, provider="nash") for _ in range(5)]
    pace(drafts, {"onfleet": 10.0, "nash": 5.0})
    assert [d.at_s for d in drafts[:5]] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    assert [d.at_s for d in drafts[5:]] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8])


def test_client_rate_choices() -> None:
    assert parse_client_rate("none") == "none"
    assert parse_client_rate("documented") == "documented"
    assert parse_client_rate("7.5") == 7.5
    assert pacing_rates("none") == {}
    assert pacing_rates("documented") == {"onfleet": 20.0, "nash": 20.0}
    assert pacing_rates(5.0) == {"onfleet": 5.0, "nash": 5.0}
    for bad in ("0", "-1", "fast", "nan", "inf"):
        with pytest.raises(UserError, match="--client-rate"):
            parse_client_rate(bad)


def test_documented_rates_are_the_providers_and_the_simulators() -> None:
    # One number: the providers' documented limit, the simulator's default submission
    # limit, and the trace's default pacing (both through sim.submission.ClientLimiter).
    assert DOCUMENTED_RATES["onfleet"] == onfleet.RATE_LIMIT_PER_S
    assert DOCUMENTED_RATES["nash"] == nash.RATE_LIMIT_PER_S
    assert Submission().rate_limit_rps == onfleet.RATE_LIMIT_PER_S
    lim = ClientLimiter(Submission().rate_limit_rps)
    assert [lim.send_at(0.0) for _ in range(3)] == pytest.approx([0.0, 0.05, 0.1])


def _paced_calls(calls: list[TraceCall]) -> dict[str, list[float]]:
    by: dict[str, list[float]] = defaultdict(list)
    for c in calls:
        if not OPS[c.op].driver_app:
            by[c.provider].append(c.at_s)
    return by


@pytest.fixture(scope="module")
def burst_day() -> object:
    """The tiny scenario in batch mode with 30 workers: 31 setup calls at the start and
    a burst of assignments after each flush."""
    from sim.run import simulate
    from sim.scenario_io import load_scenario

    overrides = ["submission.mode=batch", "fleet.workers=30"]
    sc = load_scenario(REPO / "scenarios" / "tiny.toml", overrides)
    return simulate(sc, seed=7)


def test_the_trace_keeps_every_provider_within_its_limit(burst_day: object) -> None:
    opts = TraceOptions(providers=("onfleet", "nash"))
    header, calls = build_trace(burst_day, opts)
    assert header.pacing == {"onfleet": 20.0, "nash": 20.0}
    for provider, times in _paced_calls(calls).items():
        assert _max_in_window(times) <= 20, provider
    # Every call still comes after what it depends on.
    at = {c.id: c.at_s for c in calls}
    assert all(at[d] <= c.at_s for c in calls for d in (*c.deps, *c.after))
    # A lower client rate holds too.
    _, slow = build_trace(burst_day, TraceOptions(client_rate=2.0))
    assert _max_in_window(_paced_calls(slow)["onfleet"]) <= 2


def test_no_pacing_is_the_simulators_instants(burst_day: object) -> None:
    header, calls = build_trace(burst_day, TraceOptions(client_rate="none"))
    assert header.pacing == {}
    # The unpaced day has bursts past the limit: what pacing exists to prevent.
    assert _max_in_window(_paced_calls(calls)["onfleet"]) > 20
    _, paced = build_trace(burst_day, TraceOptions())
    assert len(paced) == len(calls)
    # Pacing only ever delays a call.
    unpaced_at = sorted(c.at_s for c in calls)
    paced_at = sorted(c.at_s for c in paced)
    assert all(p >= u - 1e-9 for p, u in zip(paced_at, unpaced_at, strict=True))
