"""Onfleet task operations over HTTP: clone, batch autoAssign, metadata match, recipients
and destinations as records (and tasks naming them by id), route plans and custom fields,
with their validation and error shapes."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.loadtest.emulator.helpers import TestClient
from tests.loadtest.emulator.sinks import recording_client

A = "/api/v2"
C = "/emulator/v1"
META = [{"name": "sku", "type": "string", "value": "A-1"}]


def task(client: TestClient, lng: float = -122.41, lat: float = 37.77, **extra: Any) -> Any:
    r = client.post(f"{A}/tasks", json={"destination": {"location": [lng, lat]}, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def err(r: Any, status: int = 400, code: int = 1000) -> str:
    """Assert Onfleet's error shape with ``status``/``code``; return the cause."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["message"]["error"] == code, body
    return str(body["message"].get("cause") or body["message"]["message"])


def team(client: TestClient) -> str:
    return str(client.post(f"{A}/teams", json={"name": "T"}).json()["id"])


def on_duty_worker(client: TestClient, team_id: str, phone: str, loc: list[float]) -> str:
    r = client.post(f"{A}/workers", json={"name": "W", "phone": phone, "teams": [team_id]})
    assert r.status_code == 200, r.text
    wid = str(r.json()["id"])
    r = client.post(f"{C}/workers/{wid}/duty", json={"onDuty": True, "location": loc})
    assert r.status_code == 200
    return wid


# -- clone ---------------------------------------------------------------------------------
def test_clone_copies_with_new_ids_and_source() -> None:
    with recording_client() as (client, sink):
        src = task(
            client,
            notes="ring twice",
            metadata=META,
            recipients=[{"name": "Ann", "phone": "+14155550100"}],
            completeBefore=int(time.time() * 1000) + 3_600_000,
        )
        sink.clear()
        r = client.post(f"{A}/tasks/{src['id']}/clone")
        assert r.status_code == 200, r.text
        c = r.json()
        assert c["id"] != src["id"] and c["shortId"] != src["shortId"]
        assert c["sourceTaskId"] == src["id"] and "sourceTaskId" not in src
        assert c["state"] == 0 and c["worker"] is None
        assert c["container"]["type"] == "ORGANIZATION"
        assert c["notes"] == "ring twice" and c["completeBefore"] == src["completeBefore"]
        assert c["destination"] == src["destination"]
        assert c["recipients"][0]["id"] == src["recipients"][0]["id"]
        assert c["metadata"] == []  # includeMetadata defaults to false
        assert sink.names() == ["taskCloned"]
        got = client.get(f"{A}/tasks/{c['id']}").json()
        assert got["sourceTaskId"] == src["id"]


def test_clone_options_and_overrides(client: TestClient) -> None:
    dep = task(client)
    src = task(client, metadata=META, dependencies=[dep["id"]], pickupTask=True)
    future = int(time.time() * 1000) + 86_400_000
    body = {
        "options": {
            "includeMetadata": True,
            "includeDependencies": True,
            "includeBarcodes": True,
            "overrides": {
                "notes": "second try",
                "completeAfter": future,
                "destination": {"location": [-122.5, 37.7]},
                "recipients": [{"name": "Bo", "phone": "+14155550199"}],
            },
        }
    }
    c = client.post(f"{A}/tasks/{src['id']}/clone", json=body).json()
    assert c["metadata"] == META and c["dependencies"] == [dep["id"]]
    assert c["notes"] == "second try" and c["completeAfter"] == future
    assert c["pickupTask"] is True
    assert c["destination"]["location"] == [-122.5, 37.7]
    assert c["destination"]["id"] != src["destination"]["id"]
    assert c["recipients"][0]["name"] == "Bo"


def test_clone_errors_change_nothing(client: TestClient) -> None:
    src = task(client)
    n = len(client.get(f"{A}/tasks/all", params={"from": 0}).json()["tasks"])
    assert err(client.post(f"{A}/tasks/nopenopenopenopenopenope/clone"), 404, 1402)
    cases = [
        ({"options": []}, 1005),
        ({"options": {"includeMetadata": "yes"}}, 1005),
        ({"options": {"frobnicate": True}}, 1000),
        ({"options": {"overrides": {"worker": "x"}}}, 1000),
        ({"options": {"overrides": {"completeAfter": 1000}}}, 1009),
        ({"options": {"overrides": {"notes": 5}}}, 1005),
        ({"options": {"overrides": {"destination": "nope"}}}, 1000),
        ({"options": {"overrides": {"recipients": [{"name": "X", "phone": "12"}]}}}, 1010),
    ]
    for body, code in cases:
        err(client.post(f"{A}/tasks/{src['id']}/clone", json=body), 400, code)
    assert len(client.get(f"{A}/tasks/all", params={"from": 0}).json()["tasks"]) == n


# -- batch autoAssign ----------------------------------------------------------------------
def test_auto_assign_batch_uses_the_dispatch_policy() -> None:
    with recording_client() as (client, sink):
        t = team(client)
        near = on_duty_worker(client, t, "+14155550001", [-122.41, 37.77])
        far = on_duty_worker(client, t, "+14155550002", [-121.0, 38.5])
        a, b = task(client), task(client, -121.01, 38.49)
        done = task(client)
        sink.clear()
        body = {"tasks": [a["id"], b["id"]], "options": {"mode": "distance"}}
        r = client.post(f"{A}/tasks/autoAssign", json=body)
        assert r.status_code == 200, r.text
        assert r.json() == {
            "assignedTasksCount": 2,
            "assignedTasks": {a["id"]: near, b["id"]: far},
        }
        got = client.get(f"{A}/tasks/{a['id']}").json()
        assert got["state"] == 1 and got["worker"] == near and got["didAutoAssign"] is True
        assert client.get(f"{A}/workers/{far}").json()["tasks"] == [b["id"]]
        assert sink.names() == ["taskAssigned", "taskAssigned"]
        # Excluded workers and teams narrow the candidates; nobody left means no error.
        body = {
            "tasks": [done["id"]],
            "options": {"mode": "load", "excludedWorkerIds": [near, far]},
        }
        assert client.post(f"{A}/tasks/autoAssign", json=body).json() == {
            "assignedTasksCount": 0,
            "assignedTasks": {},
        }
        assert client.get(f"{A}/tasks/{done['id']}").json()["state"] == 0


def test_auto_assign_teams_option(client: TestClient) -> None:
    t1, t2 = team(client), team(client)
    near = on_duty_worker(client, t1, "+14155550011", [-122.41, 37.77])
    other = on_duty_worker(client, t2, "+14155550012", [-122.0, 37.9])
    a = task(client)
    body = {"tasks": [a["id"]], "options": {"mode": "distance", "teams": [t2]}}
    out = client.post(f"{A}/tasks/autoAssign", json=body).json()
    assert out["assignedTasks"] == {a["id"]: other} and near != other


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ([], 1005),
        ({"options": {"mode": "distance"}}, 1005),
        ({"tasks": [], "options": {"mode": "distance"}}, 1000),
        ({"tasks": ["x"] * 101, "options": {"mode": "distance"}}, 1000),
        ({"tasks": ["TASK"], "options": {"mode": "fastest"}}, 1000),
        ({"tasks": ["TASK"]}, 1005),
        ({"tasks": ["TASK"], "options": {"mode": "load", "teams": ["nope"]}}, 1000),
        ({"tasks": ["TASK"], "options": {"mode": "load", "maxAssignedTaskCount": -1}}, 1000),
        ({"tasks": ["TASK"], "options": {"mode": "load", "considerDependencies": 1}}, 1005),
        ({"tasks": ["TASK", "nope"], "options": {"mode": "load"}}, 1000),
        ({"tasks": ["TASK", "TASK"], "options": {"mode": "load"}}, 1000),
    ],
)
def test_auto_assign_batch_validation(client: TestClient, body: Any, code: int) -> None:
    tid = task(client)["id"]
    if isinstance(body, dict) and "tasks" in body:
        body = {**body, "tasks": [tid if x == "TASK" else x for x in body["tasks"]]}
    err(client.post(f"{A}/tasks/autoAssign", json=body), 400, code)
    assert client.get(f"{A}/tasks/{tid}").json()["state"] == 0


def test_auto_assign_refuses_assigned_tasks_whole(client: TestClient) -> None:
    t = team(client)
    w = on_duty_worker(client, t, "+14155550021", [-122.41, 37.77])
    a, b = task(client), task(client, container={"type": "WORKER", "worker": w})
    body = {"tasks": [a["id"], b["id"]], "options": {"mode": "distance"}}
    assert "state 1" in err(client.post(f"{A}/tasks/autoAssign", json=body))
    assert client.get(f"{A}/tasks/{a['id']}").json()["state"] == 0


# -- metadata ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", [{}, [], 1, None])
def test_a_metadata_type_that_is_not_a_string_is_a_400(client: TestClient, kind: Any) -> None:
    """Found by the fuzzer: an object as ``type`` was a 500 (unhashable) before."""
    entry = [{"name": "sku", "type": kind, "value": "A-1"}]
    assert "type must be one of" in err(client.post(f"{A}/tasks/metadata", json=entry))


def test_task_metadata_match(client: TestClient) -> None:
    a = task(client, metadata=META)
    task(client, metadata=[{"name": "sku", "type": "string", "value": "B-2"}])
    obj = [{"name": "box", "type": "object", "value": {"w": 2, "h": 3}}]
    c = task(client, metadata=META + obj)
    task(client)
    got = client.post(f"{A}/tasks/metadata", json=META).json()
    assert [t["id"] for t in got] == [a["id"], c["id"]]
    q = [{"name": "box", "type": "object", "value": {"w": 2}}]
    assert [t["id"] for t in client.post(f"{A}/tasks/metadata", json=q).json()] == [c["id"]]
    wrong_type = [{"name": "sku", "type": "number", "value": 1}]
    assert client.post(f"{A}/tasks/metadata", json=wrong_type).json() == []
    for bad in ({}, [], [{"name": "sku"}], [{"name": "x", "type": "string", "value": 3}]):
        assert client.post(f"{A}/tasks/metadata", json=bad).status_code == 400


# -- recipients ----------------------------------------------------------------------------
def test_recipient_records_and_lookups(client: TestClient) -> None:
    body = {"name": "Ann Lee", "phone": "(415) 555-0100", "notes": "gate", "metadata": META}
    r = client.post(f"{A}/recipients", json=body)
    assert r.status_code == 200, r.text
    rec = r.json()
    assert rec["phone"] == "+14155550100" and rec["notes"] == "gate"
    assert rec["skipSMSNotifications"] is False and rec["metadata"] == META
    rid = rec["id"]
    assert client.get(f"{A}/recipients/{rid}").json() == rec
    assert client.get(f"{A}/recipients/name/Ann Lee").json()["id"] == rid
    assert client.get(f"{A}/recipients/phone/+14155550100").json()["id"] == rid
    assert client.get(f"{A}/recipients/phone/4155550100").json()["id"] == rid
    assert [x["id"] for x in client.post(f"{A}/recipients/metadata", json=META).json()] == [rid]
    dup = client.post(f"{A}/recipients", json={"name": "Other", "phone": "4155550100"})
    assert err(dup, 400, 1004) == "+14155550100"
    err(client.get(f"{A}/recipients/nopenopenopenopenopenope"), 404, 1402)
    err(client.get(f"{A}/recipients/name/Nobody"), 404, 1402)
    err(client.get(f"{A}/recipients/phone/+14155559999"), 404, 1402)
    err(client.get(f"{A}/recipients/phone/12"), 400, 1010)
    for bad, code in (
        ({"phone": "+14155550111"}, 1000),
        ({"name": "X"}, 1010),
        ({"name": "X", "phone": "+14155550111", "skipSMSNotifications": "no"}, 1005),
        ({"name": "X", "phone": "+14155550111", "metadata": [{"name": 1}]}, 1000),
        ([], 1005),
    ):
        err(client.post(f"{A}/recipients", json=bad), 400, code)


def test_recipient_update_shows_on_tasks_and_keeps_phones_unique(client: TestClient) -> None:
    rid = client.post(f"{A}/recipients", json={"name": "Ann", "phone": "+14155550100"}).json()["id"]
    other = client.post(f"{A}/recipients", json={"name": "Bo", "phone": "+14155550101"}).json()
    t = task(client, recipients=[rid])
    assert t["recipients"][0]["id"] == rid
    r = client.put(f"{A}/recipients/{rid}", json={"name": "Ann B", "phone": "+14155550102"})
    assert r.status_code == 200 and r.json()["name"] == "Ann B"
    assert client.get(f"{A}/tasks/{t['id']}").json()["recipients"][0]["name"] == "Ann B"
    assert client.get(f"{A}/recipients/phone/+14155550102").json()["id"] == rid
    err(client.get(f"{A}/recipients/phone/+14155550100"), 404, 1402)
    err(client.put(f"{A}/recipients/{rid}", json={"phone": other["phone"]}), 400, 1004)
    err(client.put(f"{A}/recipients/{rid}", json={}), 400, 1002)
    err(client.put(f"{A}/recipients/{rid}", json={"organization": "x"}), 400, 1000)
    err(client.put(f"{A}/recipients/nopenopenopenopenopenope", json={"name": "x"}), 404, 1003)
    assert client.get(f"{A}/recipients/{rid}").json()["phone"] == "+14155550102"


def test_inline_recipients_reuse_records_by_phone(client: TestClient) -> None:
    a = task(client, recipients=[{"name": "Ann", "phone": "+14155550100"}])
    b = task(client, recipients=[{"name": "Ann again", "phone": "4155550100"}])
    assert a["recipients"][0]["id"] == b["recipients"][0]["id"]
    assert b["recipients"][0]["name"] == "Ann"  # the record, unchanged
    dup = client.post(f"{A}/recipients", json={"name": "X", "phone": "+14155550100"})
    assert dup.status_code == 400
    batch = client.post(
        f"{A}/tasks/batch",
        json={
            "tasks": [
                {
                    "destination": {"location": [-122.4, 37.7]},
                    "recipients": [{"name": "C", "phone": "+14155550177"}],
                },
                {
                    "destination": {"location": [-122.4, 37.7]},
                    "recipients": [{"name": "C", "phone": "+14155550177"}],
                },
            ]
        },
    ).json()
    ids = {t["recipients"][0]["id"] for t in batch["tasks"]}
    assert len(ids) == 1
    assert client.get(f"{A}/recipients/{ids.pop()}").json()["phone"] == "+14155550177"
    err(
        client.post(
            f"{A}/tasks",
            json={
                "destination": {"location": [-122.4, 37.7]},
                "recipients": ["nopenopenopenopenopenope"],
            },
        )
    )


# -- destinations --------------------------------------------------------------------------
def test_destination_records_and_tasks_by_id(client: TestClient) -> None:
    r = client.post(
        f"{A}/destinations",
        json={
            "address": {"unparsed": "100 Main St, San Francisco, CA"},
            "notes": "back door",
            "metadata": META,
        },
    )
    assert r.status_code == 200, r.text
    d = r.json()
    assert len(d["location"]) == 2 and d["notes"] == "back door" and d["metadata"] == META
    assert d["address"]["street"]
    assert client.get(f"{A}/destinations/{d['id']}").json() == d
    t = task_by_dest = client.post(f"{A}/tasks", json={"destination": d["id"]}).json()
    assert task_by_dest["destination"] == d
    assert client.get(f"{A}/tasks/{t['id']}").json()["destination"]["id"] == d["id"]
    at = client.post(f"{A}/destinations", json={"location": [-122.4, 37.7]}).json()
    assert at["location"] == [-122.4, 37.7]
    got = client.post(f"{A}/destinations/metadata", json=META).json()
    assert [x["id"] for x in got] == [d["id"]]
    # A task's own destination is a record too.
    inline = task(client)["destination"]["id"]
    assert client.get(f"{A}/destinations/{inline}").json()["id"] == inline
    err(client.get(f"{A}/destinations/nopenopenopenopenopenope"), 404, 1402)
    for bad, code in (
        ({}, 1000),
        ({"location": [500, 1]}, 1000),
        ({"address": "Main St"}, 1005),
        ({"location": [-122.4, 37.7], "metadata": {}}, 1005),
        ("x", 1005),
    ):
        err(client.post(f"{A}/destinations", json=bad), 400, code)


def test_recipients_destinations_and_clones_survive_a_restart(tmp_path: Any) -> None:
    from tests.loadtest.emulator.helpers import make_client, onfleet_auth

    db = tmp_path / "emu.db"
    with make_client(db_path=db) as client:
        client.headers.update(onfleet_auth())
        alone = client.post(f"{A}/recipients", json={"name": "Solo", "phone": "+14155550150"})
        t = task(client, recipients=[{"name": "Ann", "phone": "+14155550100"}])
        rid = t["recipients"][0]["id"]
        assert client.put(f"{A}/recipients/{rid}", json={"notes": "dog"}).status_code == 200
        d = client.post(f"{A}/destinations", json={"location": [-122.4, 37.7]}).json()
        c = client.post(f"{A}/tasks/{t['id']}/clone").json()
        plan = client.post(
            f"{A}/routePlans", json={"name": "P", "startTime": 5, "tasks": [c["id"]]}
        ).json()
        gone = client.post(f"{A}/routePlans", json={"name": "Q", "startTime": 5}).json()
        assert client.delete(f"{A}/routePlans/{gone['id']}").status_code == 200
        field = {"key": "k", "name": "K", "type": "boolean"}
        client.post(f"{A}/customFields", json={"model": "Task", "field": field})
        # Refused requests keep nothing, on disk either.
        client.post(f"{A}/recipients", json={"name": "Dup", "phone": "+14155550150"})
    with make_client(db_path=db) as client:
        client.headers.update(onfleet_auth())
        assert client.get(f"{A}/recipients/{alone.json()['id']}").json()["name"] == "Solo"
        assert client.get(f"{A}/recipients/phone/+14155550100").json()["notes"] == "dog"
        got = client.get(f"{A}/tasks/{t['id']}").json()
        assert got["recipients"][0]["notes"] == "dog"
        assert client.get(f"{A}/destinations/{d['id']}").json() == d
        got_c = client.get(f"{A}/tasks/{c['id']}").json()
        assert got_c["sourceTaskId"] == t["id"] and got_c["routePlan"] == plan["id"]
        assert [p["id"] for p in client.get(f"{A}/routePlans").json()] == [plan["id"]]
        assert client.get(f"{A}/customFields/Task").json()["fields"][0]["key"] == "k"
        # The phone index is back: a new task with that phone reuses the record.
        again = task(client, recipients=[{"name": "X", "phone": "4155550100"}])
        assert again["recipients"][0]["id"] == rid
        # Updating after the restart reaches the tasks that share the record.
        client.put(f"{A}/recipients/{rid}", json={"name": "Ann C"})
        assert client.get(f"{A}/tasks/{t['id']}").json()["recipients"][0]["name"] == "Ann C"


# -- route plans ---------------------------------------------------------------------------
def test_route_plan_lifecycle(client: TestClient) -> None:
    t = team(client)
    w = on_duty_worker(client, t, "+14155550031", [-122.41, 37.77])
    a, b, c = task(client), task(client), task(client)
    body = {
        "name": "Tuesday",
        "startTime": 1_900_000_000_000,
        "tasks": [a["id"], b["id"]],
        "color": "#abcabc",
        "worker": w,
        "vehicleType": "CAR",
        "timezone": "America/New_York",
    }
    r = client.post(f"{A}/routePlans", json=body)
    assert r.status_code == 200, r.text
    plan = r.json()
    pid = plan["id"]
    assert plan["state"] == "PENDING" and plan["tasks"] == [a["id"], b["id"]]
    assert plan["taskStates"] == [0, 0] and plan["worker"] == w and len(plan["shortId"]) == 8
    assert client.get(f"{A}/tasks/{a['id']}").json()["routePlan"] == pid
    assert "routePlan" not in client.get(f"{A}/tasks/{c['id']}").json()
    assert client.get(f"{A}/routePlans/{pid}").json() == plan
    r = client.put(f"{A}/routePlans/{pid}", json={"name": "Wed", "endTime": 1_900_000_360_000})
    assert r.json()["name"] == "Wed" and r.json()["endTime"] == 1_900_000_360_000
    r = client.put(f"{A}/routePlans/{pid}/tasks", json={"tasks": [c["id"]]})
    assert r.status_code == 200 and r.json()["tasks"] == [a["id"], b["id"], c["id"]]
    # Listing and its filters.
    other = client.post(f"{A}/routePlans", json={"name": "Empty", "startTime": 1}).json()
    listed = client.get(f"{A}/routePlans").json()
    assert [p["id"] for p in listed] == [pid, other["id"]]
    assert [p["id"] for p in client.get(f"{A}/routePlans", params={"workerId": w}).json()] == [pid]
    got = client.get(f"{A}/routePlans", params={"hasTasks": "false"}).json()
    assert [p["id"] for p in got] == [other["id"]]
    got = client.get(f"{A}/routePlans", params={"startTimeFrom": "2"}).json()
    assert [p["id"] for p in got] == [pid]
    assert len(client.get(f"{A}/routePlans", params={"limit": "1"}).json()) == 1
    # A deleted task leaves its plan; deleting the plan frees its tasks.
    assert client.delete(f"{A}/tasks/{b['id']}").status_code == 200
    assert client.get(f"{A}/routePlans/{pid}").json()["tasks"] == [a["id"], c["id"]]
    d = client.delete(f"{A}/routePlans/{pid}")
    assert d.status_code == 200 and d.content == b""
    err(client.get(f"{A}/routePlans/{pid}"), 404, 1402)
    assert "routePlan" not in client.get(f"{A}/tasks/{a['id']}").json()


def test_route_plan_validation(client: TestClient) -> None:
    a = task(client)
    pid = client.post(
        f"{A}/routePlans", json={"name": "P", "startTime": 1000, "tasks": [a["id"]]}
    ).json()["id"]
    cases: list[tuple[Any, int]] = [
        ({"startTime": 1}, 1000),
        ({"name": "P"}, 1000),
        ({"name": "P", "startTime": "soon"}, 1005),
        ({"name": "P", "startTime": 5, "endTime": 4}, 1009),
        ({"name": "P", "startTime": 5, "vehicleType": "ROCKET"}, 1000),
        ({"name": "P", "startTime": 5, "worker": "nope"}, 1000),
        ({"name": "P", "startTime": 5, "team": "nope"}, 1000),
        ({"name": "P", "startTime": 5, "startAt": "HUB"}, 1000),
        ({"name": "P", "startTime": 5, "endAt": "MOON"}, 1000),
        ({"name": "P", "startTime": 5, "timezone": "Mars/Olympus"}, 1000),
        ({"name": "P", "startTime": 5, "tasks": ["nope"]}, 1000),
        ({"name": "P", "startTime": 5, "tasks": [a["id"]]}, 1000),  # already in a plan
        ({"name": "P", "startTime": 5, "tasks": "x"}, 1005),
    ]
    for body, code in cases:
        err(client.post(f"{A}/routePlans", json=body), 400, code)
    assert len(client.get(f"{A}/routePlans").json()) == 1
    err(client.put(f"{A}/routePlans/{pid}", json={}), 400, 1002)
    err(client.put(f"{A}/routePlans/{pid}", json={"tasks": []}), 400, 1000)
    err(client.put(f"{A}/routePlans/{pid}", json={"endTime": 10}), 400, 1009)
    err(client.put(f"{A}/routePlans/nopenopenopenopenopenope", json={"name": "x"}), 404, 1003)
    err(client.put(f"{A}/routePlans/{pid}/tasks", json={"tasks": [a["id"]]}), 400, 1000)
    err(client.put(f"{A}/routePlans/{pid}/tasks", json={}), 400, 1005)
    err(client.get(f"{A}/routePlans", params={"limit": "501"}), 400, 1000)
    err(client.get(f"{A}/routePlans", params={"hasTasks": "maybe"}), 400, 1000)
    err(client.delete(f"{A}/routePlans/nopenopenopenopenopenope"), 404, 1402)
    assert client.get(f"{A}/routePlans/{pid}").json()["endTime"] is None


# -- custom fields -------------------------------------------------------------------------
def test_custom_fields(client: TestClient) -> None:
    field = {"name": "Gate code", "key": "gateCode", "type": "single_line_text_field"}
    r = client.post(f"{A}/customFields", json={"model": "Task", "field": field})
    assert r.status_code == 200, r.text
    assert r.json()["key"] == "gateCode" and r.json()["asArray"] is False
    listed = client.get(f"{A}/customFields/Task").json()["fields"]
    assert [f["key"] for f in listed] == ["gateCode"]
    assert client.get(f"{A}/customFields/Worker").json() == {"fields": []}
    upd = {"model": "Task", "field": {"key": "gateCode", "description": "at the door"}}
    assert client.put(f"{A}/customFields", json=upd).json()["description"] == "at the door"
    dup = client.post(f"{A}/customFields", json={"model": "Task", "field": field})
    err(dup, 400, 1004)
    for body, code in (
        ({"model": "Boat", "field": field}, 1000),
        ({"model": "Task"}, 1005),
        ({"model": "Task", "field": {**field, "key": "9x"}}, 1000),
        ({"model": "Task", "field": {**field, "key": "k2", "type": "colour"}}, 1000),
        ({"model": "Task", "field": {**field, "key": "k3", "visibility": ["everyone"]}}, 1000),
        ({"model": "Task", "field": {**field, "key": "k4", "size": 3}}, 1000),
    ):
        err(client.post(f"{A}/customFields", json=body), 400, code)
    bad_type = {"model": "Task", "field": {"key": "gateCode", "type": "boolean"}}
    err(client.put(f"{A}/customFields", json=bad_type), 400, 1000)
    missing = {"model": "Task", "field": {"key": "nope"}}
    err(client.put(f"{A}/customFields", json=missing), 404, 1003)
    err(client.get(f"{A}/customFields/Boat"), 404, 1402)
    gone = client.request(
        "DELETE", f"{A}/customFields", json={"model": "Task", "field": {"key": "gateCode"}}
    )
    assert gone.status_code == 200 and gone.content == b""
    assert client.get(f"{A}/customFields/Task").json() == {"fields": []}
    err(client.request("DELETE", f"{A}/customFields", json=missing), 404, 1003)


# -- the OpenAPI material (schema_tasks) agrees with the routes ----------------------------
def test_schema_operations_are_served_and_answers_fit_their_models(client: TestClient) -> None:
    from loadtest.emulator.onfleet.schema_tasks import OPERATIONS, RESPONSES

    t = team(client)
    w = on_duty_worker(client, t, "+14155550041", [-122.41, 37.77])
    a = task(client, metadata=META)
    rec = client.post(f"{A}/recipients", json={"name": "S", "phone": "+14155550042"}).json()
    dest = client.post(f"{A}/destinations", json={"location": [-122.4, 37.7], "metadata": META})
    did = dest.json()["id"]
    plan = client.post(f"{A}/routePlans", json={"name": "P", "startTime": 1, "worker": w}).json()
    field = {"key": "k1", "name": "K", "type": "boolean"}
    ids = {
        "taskId": a["id"],
        "recipientId": rec["id"],
        "name": "S",
        "phone": "+14155550042",
        "destinationId": did,
        "routePlanId": plan["id"],
        "model": "Task",
    }
    # A valid body per operation, in an order where each call succeeds.
    bodies: dict[tuple[str, str], Any] = {
        ("post", "/tasks/{taskId}/clone"): {"options": {"includeMetadata": True}},
        ("post", "/tasks/autoAssign"): None,  # filled below with a fresh task
        ("post", "/tasks/metadata"): META,
        ("post", "/recipients"): {"name": "S2", "phone": "+14155550043"},
        ("put", "/recipients/{recipientId}"): {"notes": "n"},
        ("post", "/recipients/metadata"): META,
        ("post", "/destinations"): {"address": {"unparsed": "5 Main St, San Francisco"}},
        ("post", "/destinations/metadata"): META,
        ("post", "/routePlans"): {"name": "Q", "startTime": 5},
        ("put", "/routePlans/{routePlanId}"): {"color": "#fff"},
        ("put", "/routePlans/{routePlanId}/tasks"): {"tasks": [a["id"]]},
        ("post", "/customFields"): {"model": "Task", "field": field},
        ("put", "/customFields"): {"model": "Task", "field": {"key": "k1", "name": "K2"}},
        ("delete", "/customFields"): {"model": "Task", "field": {"key": "k1"}},
    }
    order = sorted(OPERATIONS, key=lambda op: (op[0] == "delete", op[1].endswith("clone")))
    for method, path, provider, _summary, model, _query in order:
        assert provider == "onfleet" and path.startswith(A)
        rel = path[len(A) :]
        body = bodies.get((method, rel))
        if rel == "/tasks/autoAssign":
            body = {"tasks": [task(client)["id"]], "options": {"mode": "distance"}}
        if model is not None and body is not None:
            model.model_validate(body)  # what the document promises accepts it
        url = A + rel.format(**ids)
        r = client.request(method.upper(), url, json=body)
        assert r.status_code == 200, (method, path, r.text)
        answer = RESPONSES.get((method, path))
        if answer is None:
            assert method == "delete" and r.content == b""
        else:
            answer.model_validate(r.json())
    assert {(m, p) for m, p, *_ in OPERATIONS} >= set(RESPONSES)


def test_tasks_and_workers_match_metadata_by_one_rule() -> None:
    """Workers and tasks once matched by different rules: ``{"a": 1}`` found a task whose
    stored object held ``{"a": true}``, but not such a worker."""
    from loadtest.emulator.onfleet import metadata, task_metadata

    stored = [{"name": "m", "type": "object", "value": {"a": True, "b": 2}}]
    loose = [{"name": "m", "type": "object", "value": {"a": 1}}]
    subset = [{"name": "m", "type": "object", "value": {"a": True}}]
    for matcher in (metadata.matches, task_metadata.matches):
        assert not matcher(stored, loose)  # JSON equality: true is not 1
        assert matcher(stored, subset)  # an object query's keys are a subset


@pytest.mark.parametrize(
    ("entry", "cause"),
    [
        ({"name": "sku"}, "metadata[0].type must be one of"),
        ({"name": "sku", "type": "number", "value": "12"}, "metadata[0].value must be a number"),
        ({"type": "string", "value": "x"}, "metadata[0].name"),
        ("sku", "metadata[0] must be an object"),
        ({"name": "n", "type": "string", "value": "x", "visibility": ["all"]}, "visibility"),
    ],
)
def test_a_tasks_metadata_entries_are_checked_on_every_path(
    client: TestClient, entry: Any, cause: str
) -> None:
    """POST /tasks, the batch, and PUT refuse a bad entry with a 400 that names it, and
    keep nothing of the refused request."""
    body = {"destination": {"location": [-122.41, 37.77]}, "metadata": [entry]}
    before = len(client.get(f"{A}/tasks/all", params={"from": 0}).json()["tasks"])
    r = client.post(f"{A}/tasks", json=body)
    assert r.status_code == 400 and cause in r.json()["message"]["cause"], r.text
    r = client.post(f"{A}/tasks/batch", json={"tasks": [body]})
    assert r.status_code == 200 and r.json()["tasks"] == []
    assert cause in r.json()["errors"][0]["error"]["cause"]
    assert len(client.get(f"{A}/tasks/all", params={"from": 0}).json()["tasks"]) == before
    t = task(client)
    r = client.put(f"{A}/tasks/{t['id']}", json={"metadata": [entry]})
    assert r.status_code == 400 and cause in r.json()["message"]["cause"], r.text
    assert client.get(f"{A}/tasks/{t['id']}").json()["metadata"] == []


def test_a_tasks_metadata_is_kept_as_given_when_good(client: TestClient) -> None:
    meta = [
        {"name": "sku", "type": "string", "value": "A-1", "visibility": ["api"]},
        {"name": "tags", "type": "array", "subtype": "string", "value": ["x"]},
    ]
    assert task(client, metadata=meta)["metadata"] == meta
    r = client.post(
        f"{A}/tasks",
        json={"destination": {"location": [-122.41, 37.77]}, "metadata": [*meta, meta[0]]},
    )
    assert r.status_code == 400 and "unique" in r.json()["message"]["cause"]
