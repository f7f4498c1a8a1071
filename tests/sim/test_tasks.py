import pytest

from sim.errors import InvalidTransition
from sim.tasks import ACTIVE, ASSIGNED, COMPLETED, UNASSIGNED, Task, check_transition


def _task() -> Task:
    return Task(1, 0, 0, False, 0.0, 0.0, 1.0, 60.0, float("nan"), float("nan"), (), 0.0, 0.5)


@pytest.mark.parametrize("old,new", [(0, 1), (1, 0), (1, 2), (2, 3)])
def test_platform_transitions_are_allowed(old: int, new: int) -> None:
    check_transition(7, old, new)


@pytest.mark.parametrize(
    "old,new", [(0, 2), (0, 3), (1, 3), (2, 1), (2, 0), (3, 0), (3, 1), (3, 2), (1, 1)]
)
def test_other_transitions_are_refused_loudly(old: int, new: int) -> None:
    with pytest.raises(InvalidTransition, match=f"task 7: .*\\({old}\\) → .*\\({new}\\)"):
        check_transition(7, old, new)


def test_task_walks_the_happy_path_and_completed_is_final() -> None:
    t = _task()
    assert t.state == UNASSIGNED
    t.move_to(ASSIGNED)
    t.move_to(UNASSIGNED)
    t.move_to(ASSIGNED)
    t.move_to(ACTIVE)
    t.move_to(COMPLETED)
    with pytest.raises(InvalidTransition):
        t.move_to(ASSIGNED)
    assert t.state == COMPLETED


def test_ready_follows_open_dependencies() -> None:
    t = Task(2, 0, 0, False, 0.0, 0.0, 1.0, 0.0, float("nan"), float("nan"), (1,), 0.0, 0.5)
    assert not t.ready
    t.open_deps -= 1
    assert t.ready
