"""Multi-stop orders from a CSV: rows sharing an order_id, ordered by sequence or depends_on."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.demand import build_demand
from sim.errors import ScenarioError
from sim.rng import make_streams
from sim.run import simulate
from sim.tasks import Task
from tests.fixtures.scenarios import make_scenario

HEAD = (
    "order_id,stop_id,sequence,depends_on,created_s,pickup_lat,pickup_lon,dropoff_lat,dropoff_lon\n"
)


def _build(tmp_path: Path, body: str) -> tuple[list[Task], list]:  # type: ignore[type-arg]
    (tmp_path / "orders.csv").write_text(HEAD + body)
    sc = make_scenario(demand={"source": "csv", "csv": str(tmp_path / "orders.csv")})
    return build_demand(sc, make_streams(0))


def _by_place(tasks: list[Task]) -> dict[tuple[float, float], Task]:
    return {(t.lat, t.lon): t for t in tasks}


def test_sequence_numbers_make_levels(tmp_path: Path) -> None:
    # one restaurant pickup with drop A (seq 1), then B and C (seq 2, parallel), then D (seq 3)
    tasks, orders = _build(
        tmp_path,
        "o1,,1,,60,40.750,-73.980,40.751,-73.981\n"
        "o1,,2,,60,,,40.752,-73.982\n"
        "o1,,2,,60,,,40.753,-73.983\n"
        "o1,,3,,60,,,40.754,-73.984\n"
        "o2,,,,30,,,40.760,-73.990\n",
    )
    assert len(orders) == 2 and [o.ordered_s for o in orders] == [30.0, 60.0]
    at = _by_place(tasks)
    pick, a = at[(40.750, -73.980)], at[(40.751, -73.981)]
    b, c, d = at[(40.752, -73.982)], at[(40.753, -73.983)], at[(40.754, -73.984)]
    assert pick.is_pickup and a.dependencies == (pick.id,)
    assert b.dependencies == (a.id,) and c.dependencies == (a.id,)
    assert set(d.dependencies) == {b.id, c.id}
    # one order, one family: the platform counts it as one dependency family
    assert len({t.family_id for t in (pick, a, b, c, d)}) == 1
    assert at[(40.760, -73.990)].dependencies == ()


def test_depends_on_builds_any_dag_even_out_of_file_order(tmp_path: Path) -> None:
    tasks, _ = _build(
        tmp_path,
        "o1,last,,a;b,60,,,40.754,-73.984\n"
        "o1,a,,,60,40.750,-73.980,40.751,-73.981\n"
        "o1,b,,a,60,,,40.752,-73.982\n",
    )
    at = _by_place(tasks)
    a, b, last = at[(40.751, -73.981)], at[(40.752, -73.982)], at[(40.754, -73.984)]
    assert b.dependencies == (a.id,)
    assert set(last.dependencies) == {a.id, b.id}
    # every task comes after the tasks it depends on (ids are creation order)
    assert all(d < t.id for t in tasks for d in t.dependencies)


def test_a_run_completes_the_stops_in_dependency_order(tmp_path: Path) -> None:
    body = "".join(
        f"o{k},,{s},,{60 * k},{'40.750,-73.980' if s == 1 else ','},{40.751 + s / 1000},-73.981\n"
        for k in range(4)
        for s in (1, 2, 3)
    )
    (tmp_path / "orders.csv").write_text(HEAD + body)
    sc = make_scenario(demand={"source": "csv", "csv": str(tmp_path / "orders.csv")})
    tasks = simulate(sc, seed=1).tasks.set_index("task_id")
    done = tasks[tasks["state"] == 3]
    assert len(done) == len(tasks) == 16
    for tid, row in done.iterrows():
        for dep in filter(None, str(row["dependencies"]).split(";")):
            assert tasks.loc[int(dep), "completed_s"] <= row["started_s"], (tid, dep)


@pytest.mark.parametrize(
    "body,expect",
    [
        (
            "o1,a,,b,60,,,40.75,-73.98\no1,b,,a,60,,,40.76,-73.98\n",
            r"order_id 'o1': depends_on forms a cycle: .*line [23].*line [23]",
        ),
        ("o1,a,,zz,60,,,40.75,-73.98\n", r"line 2: depends_on = 'zz': no stop 'zz' in order_id"),
        (
            "o1,a,1,,60,,,40.75,-73.98\no1,b,,a,60,,,40.76,-73.98\n",
            "mixes sequence and depends_on",
        ),
        ("o1,,,a,60,,,40.75,-73.98\n", "line 2: stop_id = '': a row with depends_on needs"),
        ("o1,a,1.5,,60,,,40.75,-73.98\n", "line 2: sequence = '1.5': expected a whole number"),
        (
            "o1,a,1,,60,,,40.75,-73.98\no1,b,,,60,,,40.76,-73.98\n",
            "line 3: sequence is empty but other rows",
        ),
        (
            "o1,a,,,60,,,40.75,-73.98\no1,a,,,60,,,40.76,-73.98\n",
            "stop_id 'a' is used twice",
        ),
    ],
)
def test_bad_dependencies_are_refused_naming_the_rows(
    tmp_path: Path, body: str, expect: str
) -> None:
    with pytest.raises(ScenarioError, match=expect):
        _build(tmp_path, body)
