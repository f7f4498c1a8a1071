"""Onfleet tasks: creation and validation, lookup, update, delete, complete, listing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.loadtest.emulator.helpers import (
    TestClient,
    conforms,
    make_client,
    onfleet_auth,
    seed,
)


def body(**extra: Any) -> dict[str, Any]:
    b: dict[str, Any] = {"destination": {"location": [-122.41, 37.77]}}
    b.update(extra)
    return b


def create(client: TestClient, **extra: Any) -> dict[str, Any]:
    r = client.post(T, json=body(**extra))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_seed_request_conforms_to_seed_response(client: TestClient) -> None:
    s = seed("onfleet-create-task.json")
    team = client.post("/api/v2/teams", json={"name": "SF"}).json()
    worker = client.post(
        "/api/v2/workers", json={"name": "W", "phone": "4155550100", "teams": [team["id"]]}
    ).json()
    duty = {"onDuty": True, "location": [-122.44, 37.79]}
    assert client.post(f"/emulator/v1/workers/{worker['id']}/duty", json=duty).status_code == 200
    r = client.post(T, json=s["request"])
    assert r.status_code == 200, r.text
    got = r.json()
    assert conforms(s["response"], got) == []
    assert got["recipients"][0]["phone"] == "+16505554481"
    assert got["didAutoAssign"] is True
    assert got["worker"] == worker["id"] and got["state"] == 1
    assert got["container"] == {"type": "WORKER", "worker": worker["id"]}
    assert got["completeAfter"] == 1455151071727
    assert got["destination"]["address"]["number"] == "2829"
    assert len(got["id"]) == 24 and len(got["shortId"]) == 8
    int(got["shortId"], 16)
    assert got["trackingURL"].endswith(got["shortId"])


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({}, 1000),
        ({"destination": None}, 1000),
        ({"destination": {"notes": "no address"}}, 1000),
        ({"destination": {"location": [500, 1]}}, 1000),
        ({"destination": 17}, 1005),
        (body(recipients=[{"name": "a", "phone": "+14155550100"}] * 2), 1000),
        (body(recipients=[{"name": "a", "phone": "12"}]), 1010),
        (body(notes="x" * 10_001), 1000),
        (body(completeAfter=2000, completeBefore=1000), 1009),
        (body(completeAfter="soon"), 1005),
        (body(autoAssign={"mode": "distance"}, container={"type": "ORGANIZATION"}), 1000),
        (body(autoAssign={"mode": "nearest"}), 1000),
        (body(dependencies=["abcdefghijklmnopqrstuvwx"]), 1000),
        (body(container={"type": "WORKER", "worker": "nobody"}), 1000),
        (body(pickupTask="yes"), 1005),
        ({"destination": {"address": {"unparsed": "420 Infinite Loop, Redmond, WA"}}}, 1011),
        ([1, 2], 1005),
    ],
)
def test_validation_errors_use_onfleet_shape(client: TestClient, payload: Any, error: int) -> None:
    r = client.post(T, json=payload)
    assert r.status_code == 400, r.text
    j = r.json()
    assert j["code"] == "InvalidContent"
    assert j["message"]["error"] == error
    assert set(j["message"]) >= {"error", "message", "cause", "request"}


def test_notes_at_limit_accepted(client: TestClient) -> None:
    assert create(client, notes="x" * 10_000)["notes"] == "x" * 10_000


def test_geocoding_is_deterministic_and_location_skips_it(client: TestClient) -> None:
    addr = {"address": {"unparsed": "100 Main St, San Francisco, CA, USA"}}
    a = client.post(T, json={"destination": addr}).json()
    b = client.post(T, json={"destination": addr}).json()
    assert a["destination"]["location"] == b["destination"]["location"]
    lng, lat = a["destination"]["location"]
    assert 37.5 < lat < 38.0 and -122.7 < lng < -122.2
    c = client.post(T, json={"destination": {**addr, "location": [-122.0, 37.0]}}).json()
    assert c["destination"]["location"] == [-122.0, 37.0]


def test_lookup_update_delete(client: TestClient) -> None:
    t = create(client, notes="first")
    assert client.get(f"{T}/{t['id']}").json()["notes"] == "first"
    assert client.get(f"{T}/shortId/{t['shortId']}").json()["id"] == t["id"]
    r = client.put(f"{T}/{t['id']}", json={"notes": "second", "quantity": 2})
    assert r.status_code == 200 and r.json()["notes"] == "second"
    assert r.json()["quantity"] == 2
    assert client.put(f"{T}/{t['id']}", json={}).json()["message"]["error"] == 1002
    bad = client.put(f"{T}/{t['id']}", json={"completeAfter": 5, "completeBefore": 4})
    assert bad.json()["message"]["error"] == 1009
    r = client.delete(f"{T}/{t['id']}")
    assert r.status_code == 200 and r.content == b""
    assert client.get(f"{T}/{t['id']}").status_code == 404
    assert client.get(f"{T}/shortId/{t['shortId']}").status_code == 404
    missing = client.put(f"{T}/{t['id']}", json={"notes": "x"})
    assert missing.status_code == 404 and missing.json()["message"]["error"] == 1003


def test_update_destination_regeocodes(client: TestClient) -> None:
    t = create(client)
    r = client.put(f"{T}/{t['id']}", json={"destination": {"location": [-122.3, 37.8]}})
    assert r.status_code == 200
    assert r.json()["destination"]["location"] == [-122.3, 37.8]
    assert client.get(f"{T}/{t['id']}").json()["destination"]["location"] == [-122.3, 37.8]


def test_dependencies_must_exist_and_are_kept(client: TestClient) -> None:
    a = create(client)
    b = create(client, dependencies=[a["id"]])
    assert b["dependencies"] == [a["id"]]


def test_complete_requires_a_started_task(client: TestClient) -> None:
    t = create(client)
    r = client.post(f"{T}/{t['id']}/complete", json={"completionDetails": {"success": True}})
    assert r.status_code == 400
    assert "not been started" in r.json()["message"]["cause"]
    r = client.post(f"{T}/{t['id']}/complete", json={"completionDetails": {}})
    assert r.status_code == 400


def test_list_requires_from_and_pages_by_64(client: TestClient) -> None:
    r = client.get(f"{T}/all")
    assert r.status_code == 400 and r.json()["message"]["error"] == 1000
    ids = [
        t["id"]
        for t in client.post(
            f"{T}/batch", json={"tasks": [body(notes=str(i)) for i in range(150)]}
        ).json()["tasks"]
    ]
    seen: list[str] = []
    last = None
    pages = 0
    while True:
        q = "from=0" + (f"&lastId={last}" if last else "")
        page = client.get(f"{T}/all?{q}").json()
        assert len(page["tasks"]) <= 64
        seen += [t["id"] for t in page["tasks"]]
        pages += 1
        last = page.get("lastId")
        if last is None:
            break
    assert seen == ids and pages == 3
    assert client.get(f"{T}/all?from=0&state=1").json() == {"tasks": []}
    assert client.get(f"{T}/all?from=0&state=9").status_code == 400
    assert client.get(f"{T}/all?from=abc").status_code == 400
    future = client.get(f"{T}/all?from=99999999999999").json()
    assert future == {"tasks": []}


def test_update_recipients_container_and_geocoded_destination(client: TestClient) -> None:
    t = create(client)
    team = client.post("/api/v2/teams", json={"name": "T"}).json()["id"]
    w = client.post(
        "/api/v2/workers", json={"name": "W", "phone": "4155550190", "teams": [team]}
    ).json()["id"]
    r = client.put(
        f"{T}/{t['id']}",
        json={
            "recipients": [{"name": "Zed", "phone": "(415) 555-0111"}],
            "destination": {"address": {"unparsed": "5 Pine St, San Francisco, CA, USA"}},
            "container": {"type": "WORKER", "worker": w},
        },
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["recipients"][0]["phone"] == "+14155550111"
    assert got["destination"]["address"]["street"] == "Pine St"
    assert got["state"] == 1 and got["worker"] == w
    same = client.post(
        T, json={"destination": {"address": {"unparsed": "5 Pine St, San Francisco, CA, USA"}}}
    ).json()
    assert same["destination"]["location"] == got["destination"]["location"]
    bad = client.put(f"{T}/{t['id']}", json={"destination": {"address": {"unparsed": "1 Nowhere"}}})
    assert bad.status_code == 400 and bad.json()["message"]["error"] == 1011
    back = client.put(f"{T}/{t['id']}", json={"container": {"type": "ORGANIZATION"}})
    assert back.json()["state"] == 0 and back.json()["worker"] is None
    assert client.get(f"{T}/all?from=0").json()["tasks"][0]["id"] == t["id"]


T = "/api/v2/tasks"


@pytest.mark.parametrize(
    "update",
    [
        {"notes": "CHANGED", "container": {"type": "WORKER", "worker": "nope"}},
        {"destination": {"location": [2, 2]}, "recipients": ["unknown"]},
        {"notes": "CHANGED", "recipients": [{"id": "unknownRecipientId00000000"}]},
        {"notes": "CHANGED", "container": {"type": "TEAM", "team": "nope"}},
        {"notes": "CHANGED", "dependencies": ["no-such-task"]},
    ],
)
def test_failed_update_leaves_task_unchanged(tmp_path: Path, update: dict[str, Any]) -> None:
    db = tmp_path / "emu.db"
    with make_client(db_path=db) as client:
        client.headers.update(onfleet_auth())
        r = client.post(T, json={"destination": {"location": [-122.41, 37.77]}, "notes": "v1"})
        assert r.status_code == 200, r.text
        before = r.json()
        r = client.put(f"{T}/{before['id']}", json=update)
        assert r.status_code == 400, r.text
        in_memory = client.get(f"{T}/{before['id']}").json()
    with make_client(db_path=db) as client:  # what SQLite kept
        client.headers.update(onfleet_auth())
        on_disk = client.get(f"{T}/{before['id']}").json()
    for view in (in_memory, on_disk):
        assert view["notes"] == "v1"
        assert view["destination"]["location"] == before["destination"]["location"]
        assert view["recipients"] == before["recipients"]
        assert view["container"] == before["container"]
        assert view["timeLastModified"] == before["timeLastModified"]


def test_failed_update_over_cap_leaves_task_unchanged() -> None:
    with make_client(container_cap=2) as capped:
        capped.headers.update(onfleet_auth())
        team = capped.post("/api/v2/teams", json={"name": "T", "workers": [], "managers": []})
        assert team.status_code == 200, team.text
        worker = capped.post(
            "/api/v2/workers",
            json={"name": "W", "phone": "+14155550100", "teams": [team.json()["id"]]},
        )
        assert worker.status_code == 200, worker.text
        to_worker = {"container": {"type": "WORKER", "worker": worker.json()["id"]}}
        loc = {"destination": {"location": [-122.41, 37.77]}}
        for _ in range(2):  # fill the worker to the cap, one at a time (org cap is 2 too)
            tid = capped.post(T, json=loc).json()["id"]
            assert capped.put(f"{T}/{tid}", json=to_worker).status_code == 200
        c = capped.post(T, json={**loc, "notes": "c"}).json()
        r = capped.put(f"{T}/{c['id']}", json={"notes": "CHANGED", **to_worker})
        assert r.status_code == 400, r.text
        after = capped.get(f"{T}/{c['id']}").json()
        assert after["notes"] == "c" and after["container"] == c["container"]


def test_update_refuses_dependency_cycle(client: TestClient) -> None:
    loc = {"destination": {"location": [-122.41, 37.77]}}
    a, b, c, d = (client.post(T, json=loc).json()["id"] for _ in range(4))
    assert client.put(f"{T}/{b}", json={"dependencies": [a]}).status_code == 200
    assert client.put(f"{T}/{c}", json={"dependencies": [b]}).status_code == 200
    # Two-task cycle and a longer one are refused, and change nothing.
    for tid, deps in ((a, [b]), (a, [c]), (a, [d, c])):
        r = client.put(f"{T}/{tid}", json={"dependencies": deps, "notes": "CHANGED"})
        assert r.status_code == 400, r.text
        j = r.json()["message"]
        assert j["error"] == 1000 and "cycle" in j["cause"]
        task = client.get(f"{T}/{tid}").json()
        assert task["dependencies"] == [] and task["notes"] == ""
    r = client.put(f"{T}/{a}", json={"dependencies": [c, b]})
    assert "->" in r.json()["message"]["cause"]
    # A diamond (d depends on b and c, both on a) is not a cycle.
    assert client.put(f"{T}/{d}", json={"dependencies": [b, c]}).status_code == 200
    assert client.put(f"{T}/{a}", json={"dependencies": [a]}).status_code == 400


def test_a_deleted_worker_stays_deleted_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "emu.db"
    with make_client(db_path=db) as client:
        client.headers.update(onfleet_auth())
        team = client.post("/api/v2/teams", json={"name": "T"}).json()["id"]
        body = {"name": "W", "phone": "+14155550301", "teams": [team]}
        w = client.post("/api/v2/workers", json=body).json()["id"]
        t = client.post(T, json={"destination": {"location": [-122.41, 37.77]}}).json()["id"]
        r = client.put(f"{T}/{t}", json={"container": {"type": "WORKER", "worker": w}})
        assert r.status_code == 200, r.text
        assert client.delete(f"/api/v2/workers/{w}").status_code == 200
    with make_client(db_path=db) as client:  # what SQLite kept
        client.headers.update(onfleet_auth())
        assert client.get(f"/api/v2/workers/{w}").status_code == 404
        assert all(x["id"] != w for x in client.get("/api/v2/workers").json())
        assert client.get(f"/api/v2/teams/{team}").json()["workers"] == []
        task = client.get(f"{T}/{t}").json()
        assert task["state"] == 0 and task["worker"] is None
        # The phone is free again.
        assert client.post("/api/v2/workers", json=body).status_code == 200
