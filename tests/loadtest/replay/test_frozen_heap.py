"""The replay's heap is frozen while the day runs (loadtest.replay.partition.frozen_heap),
so a full collection does not walk the trace; unfrozen when the last run ends."""

from __future__ import annotations

import gc

from loadtest.replay.partition import frozen_heap


def test_what_exists_before_the_day_is_frozen_until_the_last_run_ends() -> None:
    gc.unfreeze()
    trace = [{"call": i, "body": {"a": [i]}} for i in range(1000)]
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        frozen = gc.get_freeze_count()
        assert frozen >= 2000  # at least the trace's dicts and lists
        with frozen_heap():  # a second run side by side in the same process
            assert gc.get_freeze_count() >= frozen
        assert gc.get_freeze_count() >= frozen  # the first run still runs
        young = [[i] for i in range(10)]  # made during the day: not frozen
        assert gc.get_freeze_count() < frozen + len(young)
    assert gc.get_freeze_count() == 0
    assert len(trace) == 1000


def test_the_heap_is_unfrozen_when_the_day_fails() -> None:
    gc.unfreeze()
    try:
        with frozen_heap():
            raise RuntimeError("the run broke")
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == 0
