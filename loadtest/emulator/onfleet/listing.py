"""GET /tasks/all: one page of tasks in creation order (API-NOTES §1.6).

``from`` is required; at most 64 tasks a page; ``lastId`` is given while more may follow
and absent on the last page.  Completed tasks match on completion time, the others on
creation time.  Creation times are sorted, so the scan starts at a bisection of ``from``
(plus completed tasks created earlier, which may still match on completion time).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from loadtest.emulator.onfleet.model import STATE_COMPLETED, Task
from loadtest.emulator.onfleet.validate import bad
from loadtest.providers.onfleet import PAGE_SIZE

if TYPE_CHECKING:
    from loadtest.emulator.onfleet.state import OnfleetState


def list_page(
    st: OnfleetState,
    from_ms: int,
    to_ms: int | None,
    last_id: str | None,
    states: frozenset[int] | None,
    worker: str | None,
    keep: Callable[[Task], bool] | None = None,
) -> tuple[list[Task], str | None]:
    """One page of GET /tasks/all: creation order, <= 64, ``lastId`` while more remain.

    Completed tasks match on completion time, the others on creation time.  ``keep`` is a
    further filter (``/workers/{id}/tasks`` and ``/teams/{id}/tasks`` page the same way).
    """
    after_seq = -1
    if last_id is not None:
        anchor = st.tasks.get(last_id)
        if anchor is None:
            raise bad(f"lastId {last_id} is not a task id")
        after_seq = anchor.seq
    hi = to_ms if to_ms is not None else 2**62

    def matches(t: Task) -> bool:
        if t.deleted:
            return False
        if states is not None and t.state not in states:
            return False
        if worker is not None and t.worker != worker:
            return False
        if keep is not None and not keep(t):
            return False
        when = t.time_completed if t.state == STATE_COMPLETED else t.time_created
        return when is not None and from_ms <= when <= hi

    start = bisect.bisect_left(st.created_ms, from_ms)
    page: list[Task] = []
    more = False
    for t in _candidates(st, start, after_seq, hi):
        if matches(t):
            if len(page) == PAGE_SIZE:
                more = True
                break
            page.append(t)
    return page, (page[-1].id if more and page else None)


def _candidates(st: OnfleetState, start: int, after_seq: int, hi: int) -> Iterator[Task]:
    # Completed tasks created before `from` may still match on completion time.
    early = sorted(
        (t for t in st.completed if t.seq < start and t.seq > after_seq),
        key=lambda t: t.seq,
    )
    yield from early
    for i in range(max(start, after_seq + 1), len(st.order)):
        if st.created_ms[i] > hi:
            return
        yield st.order[i]


def page_of(
    candidates: list[Task],
    from_ms: int,
    to_ms: int | None,
    last_id: str | None,
    st: OnfleetState,
    keep: Callable[[Task], bool],
) -> tuple[list[Task], str | None]:
    """One page, as :func:`list_page` pages, over ``candidates`` (sorted by ``seq``): the
    ``/workers/{id}/tasks`` and ``/teams/{id}/tasks`` pages, which look only at the
    worker's or team's own tasks instead of scanning every task of the organisation."""
    after_seq = -1
    if last_id is not None:
        anchor = st.tasks.get(last_id)
        if anchor is None:
            raise bad(f"lastId {last_id} is not a task id")
        after_seq = anchor.seq
    hi = to_ms if to_ms is not None else 2**62
    start = bisect.bisect_right([t.seq for t in candidates], after_seq)
    page: list[Task] = []
    for t in candidates[start:]:
        if t.deleted or not keep(t):
            continue
        when = t.time_completed if t.state == STATE_COMPLETED else t.time_created
        if when is None or not from_ms <= when <= hi:
            continue
        if len(page) == PAGE_SIZE:
            return page, page[-1].id
        page.append(t)
    return page, None
