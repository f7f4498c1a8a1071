"""The batch path's fast validation and encoding agree with the general ones.

``fastparse.parse_many`` must give, for every body, the spec or the 400 that
``parse_task`` gives; ``encode`` must give ``orjson.dumps(task.to_json())`` byte for byte;
and a task answers the same whether it comes alone or in a batch.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadtest.emulator.errors import ApiError
from loadtest.emulator.onfleet.encode import batch_bytes
from loadtest.emulator.onfleet.fastparse import parse_many
from loadtest.emulator.onfleet.model import Task
from loadtest.emulator.onfleet.validate import TaskSpec, parse_task
from tests.loadtest.emulator.helpers import TestClient, make_client, onfleet_auth

B = "/api/v2/tasks/batch"

# Values around every edge the fast path decides on: types, bounds, nulls, bools as ints.
_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**15 + 5),
    st.sampled_from([0, 0.0, 1.5, -0.5, 10**15, 10**15 + 0.5, 1e12, 1e12 - 1, 1e300]),
    st.text(max_size=4),
    st.lists(st.integers(0, 3), max_size=2),
)
_COORD = st.one_of(
    st.floats(-200, 200),
    st.sampled_from([float("nan"), float("inf"), -90.0, 90.0, -180.0, 180.0, 90.0000001]),
    st.integers(-200, 200),
    st.booleans(),
    st.none(),
)
_PHONE = st.one_of(
    st.sampled_from(["4155550100", "+14155550100", "(415) 555-0100", "14155550100", "12", ""]),
    _ANY,
)
_RECIPIENT = st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(["Ann", " ", ""]), _ANY), "phone": _PHONE},
    optional={
        "notes": st.one_of(st.just("ring"), _ANY),
        "skipSMSNotifications": st.one_of(st.booleans(), _ANY),
        "metadata": _ANY,
    },
)
_DEST = st.one_of(
    st.fixed_dictionaries(
        {"location": st.one_of(st.lists(_COORD, min_size=1, max_size=3), _ANY)},
        optional={"notes": st.one_of(st.just("gate"), _ANY)},
    ),
    st.just({"location": [-122.4, 37.7], "address": {"unparsed": "1 Market St"}}),
    st.just({"location": [-122.4, 37.7]}),
    st.just({}),
    _ANY,
)
_BODY = st.fixed_dictionaries(
    {"destination": _DEST},
    optional={
        "notes": st.one_of(st.text(max_size=5), st.just("x" * 10_001), _ANY),
        "pickupTask": st.one_of(st.booleans(), _ANY),
        "recipients": st.one_of(st.lists(st.one_of(_RECIPIENT, _ANY), max_size=2), _ANY),
        "completeAfter": _ANY,
        "completeBefore": _ANY,
        "quantity": _ANY,
        "serviceTime": _ANY,
        "metadata": _ANY,
    },
)


def _slow(body: Any) -> TaskSpec | ApiError:
    try:
        return parse_task(body)
    except ApiError as exc:
        return exc


def _same(fast: TaskSpec | ApiError, slow: TaskSpec | ApiError) -> None:
    if isinstance(slow, ApiError):
        assert isinstance(fast, ApiError)
        assert (fast.status, fast.message, fast.error, fast.cause) == (
            slow.status,
            slow.message,
            slow.error,
            slow.cause,
        )
    else:
        assert fast == slow
        assert isinstance(fast, TaskSpec)
        # Equal is not enough where the wire tells 0 from 0.0.
        assert orjson.dumps(fast.quantity) == orjson.dumps(slow.quantity)
        assert orjson.dumps(fast.service_time) == orjson.dumps(slow.service_time)
        assert orjson.dumps(fast.location) == orjson.dumps(slow.location)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(_BODY, _ANY), min_size=1, max_size=6))
def test_fast_parse_equals_parse_task(bodies: list[Any]) -> None:
    for fast, body in zip(parse_many(bodies), bodies, strict=True):
        _same(fast, _slow(body))


_EDGES = [0, 0.0, -1, 10**15, 10**15 + 0.5, 10**15 + 1, 1e12, 1e12 - 1, None, True, "1"]


def test_fast_parse_edges_equal_parse_task() -> None:
    """Every bound of the fast shapes, for each numeric key, against parse_task."""
    base = {"destination": {"location": [-122.4, 37.7]}}
    bodies: list[Any] = [
        dict(base, **{key: v})
        for key in ("completeAfter", "completeBefore", "quantity", "serviceTime")
        for v in _EDGES
    ]
    bodies += [{"destination": {"location": [lng, lat]}} for lng in _EDGES for lat in _EDGES]
    bodies += [dict(base, notes=n) for n in ("x" * 10_000, "x" * 10_001, None, 0, "")]
    bodies += [dict(base, completeAfter=a, completeBefore=b) for a in (1, 2) for b in (1, 2)]
    for fast, body in zip(parse_many(bodies), bodies, strict=True):
        _same(fast, _slow(body))


def test_fast_parse_takes_the_common_shapes() -> None:
    """The bench's and the replay's shapes are accepted (not all left to parse_task)."""
    body = {
        "destination": {"location": [-122.41, 37.77]},
        "pickupTask": False,
        "notes": "order 1",
        "recipients": [{"name": "Ann", "phone": "4155550100"}],
        "completeAfter": 1_700_000_000_000,
        "completeBefore": 1_700_000_600_000,
        "quantity": 2,
        "serviceTime": 3.5,
    }
    a, b = parse_many([body, dict(body, notes="order 2")])
    assert isinstance(a, TaskSpec) and isinstance(b, TaskSpec)
    assert a.recipients is b.recipients  # one checked recipient shared by the batch
    assert a == parse_task(body)


def _created(client: TestClient, bodies: list[Any]) -> list[Task]:
    r = client.post(B, json={"tasks": bodies})
    assert r.status_code == 200
    state = client.app.state.emulator.onfleet.state  # type: ignore[attr-defined]
    return [state.tasks[t["id"]] for t in r.json()["tasks"]]


def test_encoder_equals_to_json_for_every_task_shape() -> None:
    with make_client() as client:
        client.headers.update(onfleet_auth())
        team = client.post("/api/v2/teams", json={"name": "T"}).json()
        worker = client.post(
            "/api/v2/workers", json={"name": "W", "phone": "+14155550199", "teams": [team["id"]]}
        ).json()
        bodies: list[Any] = [
            {"destination": {"location": [-122.4, 37.7]}},
            {"destination": {"address": {"unparsed": "1 Market St, San Francisco, CA, USA"}}},
            # No house number (a geocoding warning), and a "%" in the template's constants.
            {"destination": {"address": {"unparsed": "Market St, San Francisco, CA, USA"}}},
            {"destination": {"address": {"street": "50% Off Ave", "city": "San Francisco"}}},
            {
                "destination": {"location": [-122.4, 37.7], "notes": 'gate "2" \u00e9'},
                "notes": "line\nbreak \u2603",
                "recipients": [{"name": "Bo", "phone": "+14155550123", "notes": "n"}],
                "metadata": [{"name": "k", "type": "string", "value": "v"}],
                "recipientName": "Other",
                "appearance": {"triangleColor": 2},
                "container": {"type": "WORKER", "worker": worker["id"]},
                "quantity": 2,
                "serviceTime": 1.5,
                "completeAfter": 1,
                "completeBefore": 2,
                "scanOnlyRequiredBarcodes": True,
                "merchant": "m",
            },
            {
                "destination": {"location": [-122.3, 37.6]},
                "container": {"type": "TEAM", "team": team["id"]},
                "recipients": [{"name": "Bo", "phone": "+14155550123"}],
            },
        ]
        tasks = _created(client, bodies)
        assert len(tasks) == len(bodies)
        assert any(t.destination["warnings"] for t in tasks)
        first = tasks[0]
        again = {"destination": first.destination["id"], "dependencies": [first.id]}
        tasks += _created(client, [again])
        # A completed task (rare on the create paths) takes the general encoding.
        tasks[0].success, tasks[0].completion_notes, tasks[0].time_completed = True, "ok", 5
        for t in tasks:
            assert batch_bytes([t], []) == orjson.dumps({"tasks": [t.to_json()], "errors": []})
        errors = [{"error": {"statusCode": 400}, "task": {"x": 1}}]
        want = orjson.dumps({"tasks": [t.to_json() for t in tasks], "errors": errors})
        assert batch_bytes(tasks, errors) == want


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_BODY, min_size=1, max_size=4))
def test_alone_or_in_a_batch_same_answer(bodies: list[Any]) -> None:
    """Each body answers the same alone (POST /tasks) as in a batch: the same error,
    or the same task apart from ids and times."""
    volatile = {"id", "shortId", "trackingURL", "timeCreated", "timeLastModified"}

    def strip(task: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in task.items() if k not in volatile}
        out["destination"] = {
            k: v
            for k, v in task["destination"].items()
            if k not in volatile and k != "googlePlaceId"
        }
        out["recipients"] = [
            {k: v for k, v in r.items() if k not in volatile} for r in task["recipients"]
        ]
        return out

    with make_client() as alone, make_client() as batched:
        alone.headers.update(onfleet_auth())
        batched.headers.update(onfleet_auth())
        got = batched.post(B, json={"tasks": bodies}).json()
        tasks, errors = iter(got["tasks"]), iter(got["errors"])
        for body in bodies:
            r = alone.post("/api/v2/tasks", json=body)
            if r.status_code == 200:
                assert strip(next(tasks)) == strip(r.json())
            else:
                e = next(errors)
                assert e["task"] == body
                single = r.json()["message"]
                assert e["error"]["statusCode"] == r.status_code
                assert e["error"]["cause"] == single["cause"]
                assert e["error"]["message"] == single["message"]
        assert next(tasks, None) is None and next(errors, None) is None


def test_batch_recipients_shared_as_when_created_one_by_one() -> None:
    """A batch naming one recipient many times indexes one record, and its tasks share
    the record (and, past the first, one list), as single creates do."""
    body = {
        "destination": {"location": [-122.4, 37.7]},
        "recipients": [{"name": "Ann", "phone": "4155550100"}],
    }
    other = dict(body, recipients=[{"name": "Bo", "phone": "+14155550111"}])
    with make_client() as client:
        client.headers.update(onfleet_auth())
        tasks = _created(client, [body, other, body, body, other])
        tasks += _created(client, [body, other])
        state = client.app.state.emulator.onfleet.state  # type: ignore[attr-defined]
        ann = state.recipients.by_phone["+14155550100"]
        bo = state.recipients.by_phone["+14155550111"]
        assert len(state.recipients.by_id) == 2
        assert [t.recipients[0] for t in tasks] == [ann, bo, ann, ann, bo, ann, bo]
        assert all(
            t.recipients[0] is (ann if i in (0, 2, 3, 5) else bo) for i, t in enumerate(tasks)
        )
        # The first task of a new recipient has its own list; later ones share one.
        assert tasks[2].recipients is tasks[3].recipients is tasks[5].recipients
        assert tasks[0].recipients is not tasks[2].recipients
        assert tasks[4].recipients is tasks[6].recipients


def test_batch_with_latency_answers_as_without() -> None:
    """The realistic profile's per-task batch latency keeps the general encoding (other
    requests run meanwhile); the answer has the same shape and fields as without it."""
    from loadtest.emulator.config import LatencyConfig

    body = {
        "destination": {"location": [-122.4, 37.7]},
        "notes": "n",
        "recipients": [{"name": "Ann", "phone": "4155550100"}],
    }
    lat = LatencyConfig(batch_per_task_ms=0.5)  # enabled=False: only the batch's own sleep
    with make_client(latency=lat) as slow, make_client() as fast:
        slow.headers.update(onfleet_auth())
        fast.headers.update(onfleet_auth())
        a = slow.post(B, json={"tasks": [body, body]})
        b = fast.post(B, json={"tasks": [body, body]})
        assert a.status_code == b.status_code == 200
        assert [sorted(t) for t in a.json()["tasks"]] == [sorted(t) for t in b.json()["tasks"]]
        state = slow.app.state.emulator.onfleet.state  # type: ignore[attr-defined]
        want = [state.tasks[t["id"]].to_json() for t in a.json()["tasks"]]
        assert orjson.loads(a.content)["tasks"] == want
