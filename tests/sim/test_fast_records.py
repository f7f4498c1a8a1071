"""Records built in bulk through their slots' setters are the records ``__init__`` makes."""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError, replace

import pytest

from sim.demand import Order, many_orders
from sim.scenario import Submission
from sim.submission import PlannedCall, plan_submissions


def test_many_orders_equal_orders_built_one_by_one() -> None:
    fast = many_orders([0.5, 7.25, 9.0], [0, 1, 0], [0, 1, 3], [1, 3, 4])
    slow = [Order(0, 0.5, 0, (0,)), Order(1, 7.25, 1, (1, 2)), Order(2, 9.0, 0, (3,))]
    assert fast == slow
    assert all(math.isnan(o.cancel_s) for o in fast)
    assert replace(fast[1], cancel_s=8.0) == Order(1, 7.25, 1, (1, 2), 8.0)
    with pytest.raises(FrozenInstanceError):
        fast[0].kind = 3  # type: ignore[misc]
    assert many_orders([], [], [], []) == []


def test_single_calls_equal_calls_built_one_by_one() -> None:
    orders = [Order(0, 1.0, 1, (0, 1)), Order(1, 1.125, 0, (2,))]
    cfg = Submission(mode="single", rate_limit_rps=4, api_delay_s=0.5)  # 0.25 s apart
    calls = plan_submissions(orders, cfg)
    assert calls == [
        PlannedCall(0, "single", 1.0, 1.5, (0,), (1.5,), ""),
        PlannedCall(1, "single", 1.25, 1.75, (1,), (1.75,), ""),
        PlannedCall(2, "single", 1.5, 2.0, (2,), (2.0,), ""),
    ]
    assert [c.available_s for c in calls] == [1.5, 1.75, 2.0]
