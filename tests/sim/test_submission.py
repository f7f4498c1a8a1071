import numpy as np

from sim.demand import Order
from sim.scenario import Submission
from sim.submission import plan_submissions


def _orders(times: list[float], per: int = 1) -> list[Order]:
    return [Order(i, t, 0, tuple(range(i * per, (i + 1) * per))) for i, t in enumerate(times)]


def test_single_mode_one_call_per_task_rate_limited() -> None:
    orders = _orders([0.0] * 50, per=2)
    calls = plan_submissions(orders, Submission(mode="single", rate_limit_rps=20, api_delay_s=0.1))
    assert len(calls) == 100
    sent = np.array([c.sent_s for c in calls])
    assert np.allclose(np.diff(sent), 0.05)  # 20 requests/s
    assert all(c.acked_s == c.sent_s + 0.1 and c.created_s == (c.acked_s,) for c in calls)


def test_batches_flush_at_500_without_splitting_orders() -> None:
    orders = _orders([float(i) * 0.01 for i in range(700)], per=3)
    calls = plan_submissions(orders, Submission(mode="batch", flush_s=3600))
    sizes = [len(c.task_ids) for c in calls]
    assert all(s <= 500 for s in sizes) and sizes[0] == 498  # 166 whole orders
    assert sum(sizes) == 2100
    flat = [t for c in calls for t in c.task_ids]
    assert flat == list(range(2100))


def test_batches_flush_on_the_timer() -> None:
    calls = plan_submissions(
        _orders([1.0, 2.0, 70.0]),
        Submission(mode="batch", flush_s=60, api_delay_s=0.0, batch_delay_per_task_s=0.5),
    )
    assert [(c.sent_s, c.task_ids) for c in calls] == [(60.0, (0, 1)), (120.0, (2,))]
    assert calls[0].acked_s == 61.0  # latency grows with the batch size


def test_async_jobs_create_tasks_progressively_one_job_at_a_time() -> None:
    calls = plan_submissions(
        _orders([0.0] * 6),
        Submission(mode="batch-async", batch_size=3, api_delay_s=0.0, async_tasks_per_s=1.0),
    )
    assert [c.job_id != "" for c in calls] == [True, True]
    assert calls[0].created_s == (1.0, 2.0, 3.0)
    # The second job waits for the first to finish.
    assert calls[1].created_s[0] >= calls[0].created_s[-1]
    assert calls[1].available_s == calls[1].created_s[-1]
