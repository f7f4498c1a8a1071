"""Onfleet organisation, admins, workers, schedules, teams, containers and hubs over HTTP:
behaviour, validation and error shapes (the SDK suites drive the same routes)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from loadtest.emulator.config import EmulatorConfig, OrganizationConfig
from loadtest.emulator.onfleet.schema_fleet import OPERATIONS, RESPONSES
from sim.geo import geodesic_m
from tests.loadtest.emulator.helpers import TestClient, make_client, onfleet_auth
from tests.loadtest.emulator.test_onfleet_fleet import A, C, task, team, worker


def err(r: Any, status: int = 400, code: int | None = 1000) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    if code is not None:
        assert body["message"]["error"] == code, body
    return str(body["message"].get("cause") or body["message"]["message"])


# -- organisation and admins ------------------------------------------------------------
def test_organization_comes_from_the_configuration() -> None:
    cfg = OrganizationConfig(name="Acme Deliveries", timezone="Europe/Paris", country="FR")
    with make_client(organization=cfg) as c:
        c.headers.update(onfleet_auth())
        org = c.get(f"{A}/organization").json()
        assert (org["name"], org["timezone"], org["country"]) == (
            "Acme Deliveries",
            "Europe/Paris",
            "FR",
        )
        assert org["delegatees"] == [] and len(org["id"]) == 24
        one = c.get(f"{A}/organizations/{org['id']}").json()
        assert one["id"] == org["id"] and one["name"] == "Acme Deliveries"
        err(c.get(f"{A}/organizations/AAAAAAAAAAAAAAAAAAAAAAAA"), 404, None)
        # The account owner is the admin every call acts as (tasks' creator).
        admins = c.get(f"{A}/admins").json()
        assert [a["isAccountOwner"] for a in admins] == [True]
        t = task(c, -122.41, 37.77)
        assert t["creator"] == admins[0]["id"] and t["organization"] == org["id"]


def test_admin_lifecycle_and_metadata(client: TestClient) -> None:
    meta = [{"name": "region", "type": "string", "value": "north"}]
    r = client.post(
        f"{A}/admins", json={"name": "Ann", "email": "Ann@Example.com", "metadata": meta}
    )
    assert r.status_code == 200, r.text
    ann = r.json()
    assert ann["email"] == "ann@example.com" and ann["type"] == "standard"
    dup = client.post(f"{A}/admins", json={"name": "Bob", "email": "ann@example.com"})
    assert "ann@example.com" in err(dup, code=1004)
    assert "email" in err(client.post(f"{A}/admins", json={"name": "Bob", "email": "nope"}))
    assert "name" in err(client.post(f"{A}/admins", json={"email": "b@example.com"}))
    assert "colour" in err(
        client.post(f"{A}/admins", json={"name": "B", "email": "b@e.io", "colour": 1})
    )
    bob = client.post(f"{A}/admins", json={"name": "Bob", "email": "bob@example.com"}).json()
    up = client.put(f"{A}/admins/{bob['id']}", json={"name": "Robert", "metadata": meta})
    assert up.status_code == 200 and up.json()["name"] == "Robert"
    err(client.put(f"{A}/admins/{bob['id']}", json={}), code=1002)
    err(client.put(f"{A}/admins/{bob['id']}", json={"email": "ann@example.com"}), code=1004)
    err(client.put(f"{A}/admins/AAAAAAAAAAAAAAAAAAAAAAAA", json={"name": "x"}), 404, None)
    got = client.post(f"{A}/admins/metadata", json=meta).json()
    assert sorted(a["id"] for a in got) == sorted([ann["id"], bob["id"]])
    other = [{"name": "region", "type": "string", "value": "south"}]
    assert client.post(f"{A}/admins/metadata", json=other).json() == []
    assert "type" in err(
        client.post(f"{A}/admins/metadata", json=[{"name": "region", "type": "x", "value": 1}])
    )
    err(client.post(f"{A}/admins/metadata", json=[]), code=1005)
    assert client.delete(f"{A}/admins/{bob['id']}").status_code == 200
    assert [a["id"] for a in client.get(f"{A}/admins").json()][1:] == [ann["id"]]
    owner = client.get(f"{A}/admins").json()[0]
    assert "owner" in err(client.delete(f"{A}/admins/{owner['id']}"))


# -- workers -------------------------------------------------------------------------
def test_worker_list_filters(client: TestClient) -> None:
    # A bad filter is refused even before any worker exists.
    assert "bogus" in err(client.get(f"{A}/workers", params={"filter": "bogus"}))
    t1, t2 = team(client, "one"), team(client, "two")
    idle = worker(client, t1, "+14155550201", loc=[-122.41, 37.77])
    off = worker(client, t2, "+14155550202")
    busy = worker(client, t2, "+14155550203", loc=[-122.42, 37.78])
    a = task(client, -122.41, 37.77)
    client.put(f"{A}/containers/workers/{busy}", json={"tasks": [a["id"]]})
    assert client.post(f"{C}/tasks/{a['id']}/start").status_code == 200

    def ids(**q: str) -> list[str]:
        r = client.get(f"{A}/workers", params=q)
        assert r.status_code == 200, r.text
        return [w["id"] for w in r.json()]

    assert ids() == [idle, off, busy]
    assert ids(states="0") == [off]
    assert ids(states="1") == [idle]
    assert ids(states="1,2") == [idle, busy]
    assert ids(teams=t2) == [off, busy]
    assert ids(teams=f"{t1},{t2}", states="2") == [busy]
    assert ids(phones="+14155550202,4155550201") == [idle, off]
    # An unencoded "+" arrives as a space: still the same phone.
    r = client.get(f"{A}/workers?phones=+14155550203")
    assert [w["id"] for w in r.json()] == [busy]
    r = client.get(f"{A}/workers", params={"filter": "id,onDuty"})
    assert r.json()[0] == {"id": idle, "onDuty": True}
    r = client.get(f"{A}/workers/{off}", params={"filter": "name,phone"})
    assert r.json() == {"name": "W202", "phone": "+14155550202"}
    assert "bogus" in err(client.get(f"{A}/workers", params={"filter": "id,bogus"}))
    assert "states" in err(client.get(f"{A}/workers", params={"states": "3"}))
    err(client.get(f"{A}/workers", params={"phones": "12"}), code=1010)


def test_worker_update(client: TestClient) -> None:
    t1, t2 = team(client, "one"), team(client, "two")
    w = worker(client, t1, "+14155550301", vehicle={"type": "CAR", "color": "red"})
    other = worker(client, t1, "+14155550302")
    r = client.put(
        f"{A}/workers/{w}",
        json={
            "name": "Renamed",
            "phone": "415-555-0399",
            "teams": [t2],
            "capacity": 12,
            "vehicle": {"licensePlate": "FLEET1"},
            "metadata": [{"name": "shift", "type": "number", "value": 2}],
        },
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["name"], got["phone"], got["teams"], got["capacity"]) == (
        "Renamed",
        "+14155550399",
        [t2],
        12.0,
    )
    assert got["vehicle"]["type"] == "CAR" and got["vehicle"]["licensePlate"] == "FLEET1"
    assert got["vehicle"]["color"] == "red"
    assert client.get(f"{A}/teams/{t1}").json()["workers"] == [other]
    assert client.get(f"{A}/teams/{t2}").json()["workers"] == [w]
    assert client.get(f"{A}/workers/{w}").json()["metadata"][0]["value"] == 2
    err(client.put(f"{A}/workers/{other}", json={"phone": "+14155550399"}), code=1004)
    err(client.put(f"{A}/workers/{w}", json={"phone": "12"}), code=1010)
    assert "teams" in err(client.put(f"{A}/workers/{w}", json={"teams": []}))
    assert "does not exist" in err(client.put(f"{A}/workers/{w}", json={"teams": ["nope"]}))
    assert "capacity" in err(client.put(f"{A}/workers/{w}", json={"capacity": -1}))
    assert "vehicle.type" in err(client.put(f"{A}/workers/{w}", json={"vehicle": {"type": "JET"}}))
    assert "onDuty" in err(client.put(f"{A}/workers/{w}", json={"onDuty": True}))
    err(client.put(f"{A}/workers/{w}", json={}), code=1002)
    err(client.put(f"{A}/workers/AAAAAAAAAAAAAAAAAAAAAAAA", json={"name": "x"}), 404, None)
    # A refused update changed nothing.
    assert client.get(f"{A}/workers/{w}").json()["name"] == "Renamed"
    assert client.put(f"{A}/workers/{w}", json={"vehicle": None}).json()["vehicle"] is None


def test_worker_delete_refused_while_active(client: TestClient) -> None:
    t = team(client)
    w = worker(client, t, "+14155550311", loc=[-122.41, 37.77])
    a = task(client, -122.41, 37.77)
    client.put(f"{A}/containers/workers/{w}", json={"tasks": [a["id"]]})
    client.post(f"{C}/tasks/{a['id']}/start")
    assert "active task" in err(client.delete(f"{A}/workers/{w}"))
    client.post(f"{A}/tasks/{a['id']}/complete", json={"completionDetails": {"success": True}})
    assert client.delete(f"{A}/workers/{w}").status_code == 200
    err(client.get(f"{A}/workers/{w}"), 404, None)


def test_workers_by_location_is_geodesic(client: TestClient) -> None:
    t = team(client)
    centre = (-122.4194, 37.7749)
    near = worker(client, t, "+14155550401", loc=[-122.4194, 37.7790])  # ~455 m north
    far = worker(client, t, "+14155550402", loc=[-122.4194, 37.7849])  # ~1.1 km
    worker(client, t, "+14155550403")  # off duty, no location
    d_near = geodesic_m(centre[1], centre[0], 37.7790, -122.4194)
    d_far = geodesic_m(centre[1], centre[0], 37.7849, -122.4194)
    assert d_near < 1000 < d_far

    def ids(**q: Any) -> list[str]:
        r = client.get(
            f"{A}/workers/location", params={"longitude": centre[0], "latitude": centre[1], **q}
        )
        assert r.status_code == 200, r.text
        return [w["id"] for w in r.json()["workers"]]

    assert ids() == [near]  # default radius 1000 m
    assert ids(radius=2000) == [near, far]  # nearest first
    assert ids(radius=d_near - 1) == []
    assert ids(radius=d_near + 1) == [near]
    client.post(f"{C}/workers/{near}/duty", json={"onDuty": False})
    assert ids(radius=2000) == [far]
    assert "latitude" in err(client.get(f"{A}/workers/location", params={"longitude": 1}))
    assert "radius" in err(
        client.get(f"{A}/workers/location", params={"longitude": 1, "latitude": 1, "radius": 1e6})
    )
    assert "longitude" in err(
        client.get(f"{A}/workers/location", params={"longitude": "x", "latitude": 1})
    )


def test_worker_metadata_match(client: TestClient) -> None:
    t = team(client)
    a = worker(client, t, "+14155550501")
    b = worker(client, t, "+14155550502")
    client.put(
        f"{A}/workers/{a}",
        json={
            "metadata": [
                {"name": "zone", "type": "string", "value": "A"},
                {"name": "senior", "type": "boolean", "value": True},
            ]
        },
    )
    client.put(
        f"{A}/workers/{b}", json={"metadata": [{"name": "zone", "type": "string", "value": "A"}]}
    )

    def match(q: Any) -> list[str]:
        r = client.post(f"{A}/workers/metadata", json=q)
        assert r.status_code == 200, r.text
        return [w["id"] for w in r.json()]

    assert match([{"name": "zone", "type": "string", "value": "A"}]) == [a, b]
    assert match([{"name": "senior", "type": "boolean", "value": True}]) == [a]
    # Same value, other type: no match (true is not 1).
    assert match([{"name": "senior", "type": "number", "value": 1}]) == []
    assert match([{"name": "zone", "type": "string", "value": "B"}]) == []
    # Metadata given at creation counts too, and is checked there.
    m = [{"name": "zone", "type": "string", "value": "B"}]
    r = client.post(
        f"{A}/workers", json={"name": "C", "phone": "+14155550503", "teams": [t], "metadata": m}
    )
    assert r.status_code == 200 and match(m) == [r.json()["id"]]
    bad_meta = {"name": "D", "phone": "+14155550504", "teams": [t], "metadata": [{"name": "x"}]}
    assert "type" in err(client.post(f"{A}/workers", json=bad_meta))
    assert "value" in err(
        client.post(
            f"{A}/workers/metadata", json=[{"name": "zone", "type": "number", "value": "A"}]
        ),
        code=1005,
    )
    assert "unique" in err(
        client.put(
            f"{A}/workers/{a}",
            json={"metadata": [{"name": "x", "type": "number", "value": 1}] * 2},
        )
    )


def test_worker_and_team_task_pages(client: TestClient) -> None:
    t = team(client)
    w = worker(client, t, "+14155550601")
    ids = [task(client, -122.41, 37.77, pickupTask=i % 2 == 0)["id"] for i in range(70)]
    client.put(f"{A}/containers/workers/{w}", json={"tasks": ids[:66]})
    client.put(f"{A}/containers/teams/{t}", json={"tasks": [-1, *ids[66:]]})
    first = client.get(f"{A}/workers/{w}/tasks").json()
    assert [x["id"] for x in first["tasks"]] == ids[:64] and first["lastId"] == ids[63]
    rest = client.get(f"{A}/workers/{w}/tasks", params={"lastId": first["lastId"]}).json()
    assert [x["id"] for x in rest["tasks"]] == ids[64:66] and "lastId" not in rest
    picks = client.get(f"{A}/workers/{w}/tasks", params={"isPickupTask": "true"}).json()
    assert [x["id"] for x in picks["tasks"]] == ids[:66:2]
    team_page = client.get(f"{A}/teams/{t}/tasks").json()
    assert [x["id"] for x in team_page["tasks"]] == ids[66:]
    assert all(x["state"] == 0 for x in team_page["tasks"])
    future = int(time.time() * 1000) + 3_600_000
    assert client.get(f"{A}/teams/{t}/tasks", params={"from": future}).json()["tasks"] == []
    assert "isPickupTask" in err(
        client.get(f"{A}/workers/{w}/tasks", params={"isPickupTask": "yes"})
    )
    err(client.get(f"{A}/workers/{w}/tasks", params={"from": "x"}), code=None)
    err(client.get(f"{A}/teams/AAAAAAAAAAAAAAAAAAAAAAAA/tasks"), 404, None)


# -- schedules --------------------------------------------------------------------------
def test_schedule_store_and_validation(client: TestClient) -> None:
    t = team(client)
    w = worker(client, t, "+14155550701")
    assert client.get(f"{A}/workers/{w}/schedule").json() == {"entries": []}
    now = int(time.time() * 1000)
    day = {
        "date": "2030-01-02",
        "timezone": "America/Los_Angeles",
        "shifts": [[now + 10**8, now + 2 * 10**8]],
    }
    r = client.post(f"{A}/workers/{w}/schedule", json={"entries": [day]})
    assert r.status_code == 200 and r.json() == {"entries": [day]}
    earlier = {**day, "date": "2030-01-01", "shifts": [[now + 10**7, now + 2 * 10**7]]}
    r = client.post(f"{A}/workers/{w}/schedule", json={"entries": [earlier]})
    assert [e["date"] for e in r.json()["entries"]] == ["2030-01-01", "2030-01-02"]
    bad_cases = [
        ({"entries": [{**day, "date": "2030-13-01"}]}, "date"),
        ({"entries": [{**day, "timezone": "Mars/Base"}]}, "timezone"),
        ({"entries": [{**day, "shifts": [[5, 1]]}]}, "start must be before end"),
        ({"entries": [{**day, "shifts": [[1, 5], [3, 9]]}]}, "overlap"),
        (
            {
                "entries": [
                    {**day, "shifts": [[now + 10**7, now + 3 * 10**7]], "date": "2030-03-03"}
                ]
            },
            "overlap",
        ),
        ({"entries": []}, "entries"),
        ({"entries": [day, day]}, "twice"),
    ]
    for body, word in bad_cases:
        assert word in err(client.post(f"{A}/workers/{w}/schedule", json=body)), body
    err(
        client.post(f"{A}/workers/{w}/schedule", json={"entries": [{**day, "shifts": [["a", 1]]}]}),
        code=1005,
    )
    assert len(client.get(f"{A}/workers/{w}/schedule").json()["entries"]) == 2
    err(client.get(f"{A}/workers/AAAAAAAAAAAAAAAAAAAAAAAA/schedule"), 404, None)


def test_schedule_drives_duty_on_the_scaled_clock() -> None:
    # 1 wall second = 1 simulated hour: a shift from +1 h to +2 h passes in ~2 s.
    with make_client(time_scale=3600.0) as c:
        c.headers.update(onfleet_auth())
        clock = c.app.state.emulator.rt.clock  # type: ignore[attr-defined]
        t = team(c)
        w = worker(c, t, "+14155550801")
        now = clock.now_ms()
        start, end = now + 3_600_000, now + 7_200_000
        entry = {"date": "2030-01-01", "timezone": "UTC", "shifts": [[start, end]]}
        assert c.post(f"{A}/workers/{w}/schedule", json={"entries": [entry]}).status_code == 200
        assert c.get(f"{A}/workers/{w}").json()["onDuty"] is False
        deadline = time.monotonic() + 30
        while clock.now_ms() <= start and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.get(f"{A}/workers/{w}").json()["onDuty"] is True
        assert [x["id"] for x in c.get(f"{A}/workers", params={"states": "1"}).json()] == [w]
        while clock.now_ms() <= end and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.get(f"{A}/workers/{w}").json()["onDuty"] is False


def test_schedule_edges_are_not_replayed_over_a_manual_switch() -> None:
    with make_client(time_scale=3600.0) as c:
        c.headers.update(onfleet_auth())
        clock = c.app.state.emulator.rt.clock  # type: ignore[attr-defined]
        t = team(c)
        w = worker(c, t, "+14155550811")
        now = clock.now_ms()
        start = now + 1_800_000
        entry = {"date": "2030-01-01", "timezone": "UTC", "shifts": [[start, now + 10**9]]}
        c.post(f"{A}/workers/{w}/schedule", json={"entries": [entry]})
        deadline = time.monotonic() + 30
        while clock.now_ms() <= start and time.monotonic() < deadline:
            time.sleep(0.05)
        # The driver goes off duty after the edge: the edge applies first, then the switch.
        assert c.post(f"{C}/workers/{w}/duty", json={"onDuty": False}).json()["onDuty"] is False
        assert c.get(f"{A}/workers/{w}").json()["onDuty"] is False


# -- teams -----------------------------------------------------------------------------
def test_team_update_and_delete(client: TestClient) -> None:
    t1, t2 = team(client, "one"), team(client, "two")
    w1 = worker(client, t1, "+14155550901")
    w2 = worker(client, t2, "+14155550902")
    r = client.put(f"{A}/teams/{t2}", json={"name": "Two", "workers": [w2, w1]})
    assert r.status_code == 200 and r.json()["name"] == "Two"
    assert client.get(f"{A}/workers/{w1}").json()["teams"] == [t1, t2]
    assert "without a team" in err(client.put(f"{A}/teams/{t2}", json={"workers": [w1]}))
    assert "hub" in err(client.put(f"{A}/teams/{t2}", json={"hub": "nope"}))
    assert "does not exist" in err(client.put(f"{A}/teams/{t2}", json={"workers": ["nope"]}))
    err(client.put(f"{A}/teams/{t2}", json={}), code=1002)
    assert "colour" in err(client.put(f"{A}/teams/{t2}", json={"colour": "red"}))
    # t1 can go now that w1 is also in t2; t2 holds w2 alone.
    assert "no other team" in err(client.delete(f"{A}/teams/{t2}"))
    a = task(client, -122.41, 37.77)
    client.put(f"{A}/containers/teams/{t1}", json={"tasks": [0, a["id"]]})
    assert "holds 1 tasks" in err(client.delete(f"{A}/teams/{t1}"))
    client.put(
        f"{A}/containers/organizations/{client.get(f'{A}/organization').json()['id']}",
        json={"tasks": [0, a["id"]]},
    )
    assert client.delete(f"{A}/teams/{t1}").status_code == 200
    err(client.get(f"{A}/teams/{t1}"), 404, None)
    assert client.get(f"{A}/workers/{w1}").json()["teams"] == [t2]


def test_team_estimate_uses_the_travel_model(client: TestClient) -> None:
    t = team(client)
    near = worker(client, t, "+14155551001", loc=[-122.41, 37.77], vehicle={"type": "BICYCLE"})
    far = worker(client, t, "+14155551002", loc=[-122.30, 37.70], vehicle={"type": "CAR"})
    q = {"pickupLocation": "-122.40,37.78", "dropoffLocation": "-122.39,37.79", "serviceTime": "60"}
    r = client.get(f"{A}/teams/{t}/estimate", params=q)
    assert r.status_code == 200, r.text
    est = r.json()
    assert est["workerId"] == near and est["vehicle"] == "BICYCLE"
    p, d = est["steps"]
    leg1 = geodesic_m(37.77, -122.41, 37.78, -122.40) * 1.3
    leg2 = geodesic_m(37.78, -122.40, 37.79, -122.39) * 1.3
    assert p["distance"] == pytest.approx(leg1, abs=0.1) and d["distance"] == pytest.approx(
        leg2, abs=0.1
    )
    assert p["travelTime"] == round(leg1 / 8.33)
    assert d["arrivalTime"] - p["completionTime"] == pytest.approx(leg2 / 8.33, abs=1)
    assert p["completionTime"] - p["arrivalTime"] == 60
    r = client.get(f"{A}/teams/{t}/estimate", params={**q, "restrictedVehicleTypes": "BICYCLE"})
    assert r.json()["workerId"] == far
    later = int(time.time()) + 86_400
    r = client.get(f"{A}/teams/{t}/estimate", params={**q, "pickupTime": str(later)})
    assert r.json()["steps"][0]["arrivalTime"] == later
    assert "required" in err(client.get(f"{A}/teams/{t}/estimate"))
    assert "pickupLocation" in err(
        client.get(f"{A}/teams/{t}/estimate", params={"pickupLocation": "1"})
    )
    assert "restrictedVehicleTypes" in err(
        client.get(f"{A}/teams/{t}/estimate", params={**q, "restrictedVehicleTypes": "JET"})
    )
    empty_team = team(client, "empty")
    err(client.get(f"{A}/teams/{empty_team}/estimate", params=q), code=2218)


def test_team_dispatch_assigns_with_the_autoassign_policy(client: TestClient) -> None:
    t = team(client)
    other = team(client, "other")
    w1 = worker(client, t, "+14155551101", loc=[-122.41, 37.77])
    w2 = worker(client, t, "+14155551102", loc=[-122.30, 37.70])
    outsider = worker(client, other, "+14155551103", loc=[-122.41, 37.77])
    a = task(client, -122.41, 37.771)
    b = task(client, -122.301, 37.70)
    c = task(client, -122.35, 37.74)
    client.put(f"{A}/containers/teams/{t}", json={"tasks": [0, a["id"], b["id"], c["id"]]})
    r = client.post(f"{A}/teams/{t}/dispatch", json={"maxTasksPerRoute": 1})
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out["dispatchId"]) == 24 and out["assignedTasks"] == [a["id"], b["id"]]
    assert client.get(f"{A}/tasks/{a['id']}").json()["worker"] == w1
    assert client.get(f"{A}/tasks/{b['id']}").json()["worker"] == w2
    # The third stays in the team: both workers reached maxTasksPerRoute.
    assert client.get(f"{A}/containers/teams/{t}").json()["tasks"] == [c["id"]]
    assert client.get(f"{A}/workers/{outsider}").json()["tasks"] == []
    assert "maxTasksPerRoute" in err(
        client.post(f"{A}/teams/{t}/dispatch", json={"maxTasksPerRoute": 0})
    )
    nobody = team(client, "nobody")
    err(client.post(f"{A}/teams/{nobody}/dispatch"), 412, 2218)


# -- containers and hubs ---------------------------------------------------------------
def test_team_and_organization_containers(client: TestClient) -> None:
    t = team(client)
    w = worker(client, t, "+14155551201")
    org = client.get(f"{A}/organization").json()["id"]
    a, b, c = (task(client, -122.41, 37.77)["id"] for _ in range(3))
    client.put(f"{A}/containers/workers/{w}", json={"tasks": [a]})
    r = client.put(f"{A}/containers/teams/{t}", json={"tasks": [0, b, a]})
    assert r.status_code == 200 and r.json()["tasks"] == [b, a] and r.json()["type"] == "TEAM"
    got = client.get(f"{A}/tasks/{a}").json()
    assert (
        got["state"] == 0
        and got["worker"] is None
        and got["container"] == {"type": "TEAM", "team": t}
    )
    assert client.get(f"{A}/workers/{w}").json()["tasks"] == []
    assert client.get(f"{A}/containers/organizations/{org}").json()["tasks"] == [c]
    r = client.put(f"{A}/containers/teams/{t}", json={"tasks": [1, c]})
    assert r.json()["tasks"] == [b, c, a]
    # Back to the organisation, at its front; pyonfleet's singular path works too.
    r = client.put(f"{A}/containers/organization/{org}", json={"tasks": [0, a]})
    assert r.status_code == 200 and r.json()["tasks"] == [a]
    assert client.get(f"{A}/containers/teams/{t}").json()["tasks"] == [b, c]
    # PUT /containers/{id} resolves the id.
    r = client.put(f"{A}/containers/{w}", json={"tasks": [b]})
    assert r.status_code == 200 and r.json()["type"] == "WORKER" and r.json()["tasks"] == [b]
    assert "insertion index" in err(client.put(f"{A}/containers/teams/{t}", json={"tasks": [c]}))
    assert "twice" in err(client.put(f"{A}/containers/teams/{t}", json={"tasks": [0, c, c]}))
    assert "does not exist" in err(
        client.put(f"{A}/containers/teams/{t}", json={"tasks": [0, "x"]})
    )
    assert "considerDependencies" in err(
        client.put(f"{A}/containers/teams/{t}", json={"tasks": [0, c], "considerDependencies": 1}),
        code=1005,
    )
    err(
        client.put(f"{A}/containers/teams/AAAAAAAAAAAAAAAAAAAAAAAA", json={"tasks": [0]}), 404, None
    )
    err(client.put(f"{A}/containers/AAAAAAAAAAAAAAAAAAAAAAAA", json={"tasks": [0]}), 404, None)
    err(client.get(f"{A}/containers/fleets/{w}"), 404, None)


def test_hubs(client: TestClient) -> None:
    t = team(client)
    r = client.post(
        f"{A}/hubs",
        json={"name": "Depot", "address": {"unparsed": "1 Market St, San Francisco"}, "teams": [t]},
    )
    assert r.status_code == 200, r.text
    hub = r.json()
    assert hub["teams"] == [t] and len(hub["location"]) == 2
    assert client.get(f"{A}/teams/{t}").json()["hub"] == hub["id"]
    r = client.post(
        f"{A}/hubs",
        json={
            "name": "Pin",
            "address": {"street": "Main", "city": "SF"},
            "location": [-122.4, 37.7],
        },
    )
    assert r.json()["location"] == [-122.4, 37.7]
    pin = r.json()["id"]
    r = client.put(f"{A}/hubs/{pin}", json={"name": "Pinned", "teams": [t]})
    assert r.status_code == 200 and r.json()["name"] == "Pinned"
    assert client.get(f"{A}/teams/{t}").json()["hub"] == pin
    assert [h["teams"] for h in client.get(f"{A}/hubs").json()] == [[], [t]]
    assert "address" in err(client.post(f"{A}/hubs", json={"name": "X"}), code=1005)
    assert "name" in err(client.post(f"{A}/hubs", json={"address": {"unparsed": "1 Main St"}}))
    err(
        client.post(f"{A}/hubs", json={"name": "X", "address": {"unparsed": "1 Infinite Loop"}}),
        code=1011,
    )
    assert "does not exist" in err(
        client.post(
            f"{A}/hubs", json={"name": "X", "address": {"unparsed": "1 Main"}, "teams": ["no"]}
        )
    )
    err(client.put(f"{A}/hubs/{pin}", json={}), code=1002)
    err(client.put(f"{A}/hubs/AAAAAAAAAAAAAAAAAAAAAAAA", json={"name": "x"}), 404, None)
    # A team's hub set on the team moves it between the hubs' lists.
    assert client.put(f"{A}/teams/{t}", json={"hub": hub["id"]}).json()["hub"] == hub["id"]
    assert [h["teams"] for h in client.get(f"{A}/hubs").json()] == [[t], []]
    assert client.put(f"{A}/teams/{t}", json={"hub": None}).json()["hub"] is None
    assert [h["teams"] for h in client.get(f"{A}/hubs").json()] == [[], []]
    # A deleted team leaves its hub.
    spare = team(client, "spare")
    client.put(f"{A}/hubs/{pin}", json={"teams": [t, spare]})
    assert client.delete(f"{A}/teams/{spare}").status_code == 200
    assert [h["teams"] for h in client.get(f"{A}/hubs").json()] == [[], [t]]


# -- the OpenAPI operations cover every route ------------------------------------------
def test_every_fleet_route_is_in_operations(client: TestClient) -> None:
    from starlette.routing import Route

    emu = client.app.state.emulator  # type: ignore[attr-defined]
    mine = {
        (m.lower(), r.path)
        for r in emu.onfleet.fleet.routes()
        if isinstance(r, Route)
        for m in (r.methods or ())
        if m != "HEAD"
    }
    ops = {(op[0], op[1]) for op in OPERATIONS}
    assert mine == ops
    # every operation has its row (openapi.build_openapi requires one); the deletes answer
    # Onfleet's empty 200 body, so their row is None (no model)
    assert set(RESPONSES) == ops
    assert {k for k, v in RESPONSES.items() if v is None} == {k for k in ops if k[0] == "delete"}


def test_fleet_records_survive_a_restart(tmp_path: Any) -> None:
    db = tmp_path / "emu.db"
    with make_client(db_path=db) as c:
        c.headers.update(onfleet_auth())
        t = team(c)
        w = worker(c, t, "+14155551301")
        c.put(f"{A}/workers/{w}", json={"name": "Kept"})
        admin = c.post(f"{A}/admins", json={"name": "A", "email": "a@example.com"}).json()["id"]
        gone = c.post(f"{A}/admins", json={"name": "B", "email": "b@example.com"}).json()["id"]
        c.delete(f"{A}/admins/{gone}")
        hub = c.post(f"{A}/hubs", json={"name": "H", "address": {"unparsed": "1 Main St"}}).json()[
            "id"
        ]
        entry = {"date": "2030-01-01", "timezone": "UTC", "shifts": [[4 * 10**12, 4 * 10**12 + 1]]}
        c.post(f"{A}/workers/{w}/schedule", json={"entries": [entry]})
        spare = team(c, "spare")
        c.delete(f"{A}/teams/{spare}")
    with make_client(db_path=db) as c:
        c.headers.update(onfleet_auth())
        assert c.get(f"{A}/workers/{w}").json()["name"] == "Kept"
        assert [a["id"] for a in c.get(f"{A}/admins").json()][1:] == [admin]
        assert [h["id"] for h in c.get(f"{A}/hubs").json()] == [hub]
        assert c.get(f"{A}/workers/{w}/schedule").json()["entries"] == [entry]
        assert [x["id"] for x in c.get(f"{A}/teams").json()] == [t]


def test_config_rejects_a_bad_detour(tmp_path: Any) -> None:
    from loadtest.emulator.config import load_profile
    from sim.errors import UserError

    p = tmp_path / "p.toml"
    p.write_text("[organization]\nestimate_detour_factor = 0.5\n")
    with pytest.raises(UserError, match="estimate_detour_factor"):
        load_profile(str(p))
    p.write_text('[organization]\nname = "Acme"\n')
    assert load_profile(str(p)).organization.name == "Acme"
    assert EmulatorConfig().organization.country == "US"


def test_delivery_manifest(client: TestClient) -> None:
    t = team(client)
    w = worker(client, t, "+14155551401", vehicle={"type": "CAR"})
    hub = client.post(
        f"{A}/hubs",
        json={
            "name": "H",
            "address": {"number": "1", "street": "Main", "city": "SF"},
            "location": [-122.41, 37.77],
        },
    ).json()
    a = task(client, -122.40, 37.78)
    b = task(client, -122.39, 37.79)
    client.put(f"{A}/containers/workers/{w}", json={"tasks": [a["id"], b["id"]]})
    path = f"providers/manifest/generate?hubId={hub['id']}&workerId={w}"
    r = client.post(f"{A}/integrations/marketplace", json={"path": path, "method": "GET"})
    assert r.status_code == 200, r.text
    m = r.json()
    assert [x["id"] for x in m["tasks"]] == [a["id"], b["id"]]
    assert m["driver"] == {"name": "W401", "phone": "+14155551401"}
    assert m["vehicle"]["type"] == "CAR" and m["hubAddress"].startswith("1 Main, SF")
    legs = geodesic_m(37.77, -122.41, 37.78, -122.40) + geodesic_m(37.78, -122.40, 37.79, -122.39)
    assert m["totalDistance"] == pytest.approx(legs * 1.3, abs=0.1)
    assert m["totalDuration"] == round(legs * 1.3 / 8.33) and m["turnByTurn"] == []
    future = int(time.time() * 1000) + 3_600_000
    r = client.post(f"{A}/integrations/marketplace?startDate={future}", json={"path": path})
    assert r.json()["tasks"] == [] and r.json()["totalDistance"] == 0
    assert "hubId" in err(
        client.post(
            f"{A}/integrations/marketplace", json={"path": "providers/manifest/generate?hubId=x"}
        )
    )
    assert "path" in err(client.post(f"{A}/integrations/marketplace", json={"path": "elsewhere"}))
    err(client.post(f"{A}/integrations/marketplace", json=[1]), code=1005)
    missing = path.replace(hub["id"], "AAAAAAAAAAAAAAAAAAAAAAAA")
    err(client.post(f"{A}/integrations/marketplace", json={"path": missing}), 404, None)
    assert "startDate" in err(
        client.post(f"{A}/integrations/marketplace?startDate=x", json={"path": path})
    )


def test_worker_task_page_follows_moves_and_completion(tmp_path: Any) -> None:
    db = tmp_path / "emu.db"
    with make_client(db_path=db) as c:
        c.headers.update(onfleet_auth())
        t = team(c)
        w = worker(c, t, "+14155551501", loc=[-122.41, 37.77])
        w2 = worker(c, t, "+14155551502")
        a, b, x = (task(c, -122.41, 37.77)["id"] for _ in range(3))
        c.put(f"{A}/containers/workers/{w}", json={"tasks": [a, b]})
        c.put(f"{A}/containers/workers/{w2}", json={"tasks": [b]})  # b moves to w2
        c.post(f"{C}/tasks/{a}/start")
        c.post(f"{A}/tasks/{a}/complete", json={"completionDetails": {"success": True}})
        # The worker's page: the task it completed stays; the one that moved does not;
        # a task never assigned to it never shows.
        assert [k["id"] for k in c.get(f"{A}/workers/{w}/tasks").json()["tasks"]] == [a]
        assert [k["id"] for k in c.get(f"{A}/workers/{w2}/tasks").json()["tasks"]] == [b]
        assert x not in str(c.get(f"{A}/workers/{w}/tasks").json())
    with make_client(db_path=db) as c:  # rebuilt from the records after a restart
        c.headers.update(onfleet_auth())
        assert [k["id"] for k in c.get(f"{A}/workers/{w}/tasks").json()["tasks"]] == [a]
        assert [k["id"] for k in c.get(f"{A}/workers/{w2}/tasks").json()["tasks"]] == [b]


def test_dispatch_in_chunks_equals_autoassign_task_by_task(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chunked, in-place-snapshot dispatch assigns exactly as the create path's
    autoAssign called on each task in turn does."""
    from loadtest.emulator.onfleet import fleet_api

    monkeypatch.setattr(fleet_api, "DISPATCH_CHUNK", 7)
    spots = [(-122.41, 37.77), (-122.30, 37.70), (-122.45, 37.80), (-122.35, 37.75)]
    points = [(-122.28 - 0.007 * (k % 11), 37.69 + 0.009 * (k % 13)) for k in range(30)]

    def build(c: TestClient) -> tuple[str, list[str], list[str]]:
        t = team(c)
        ws = [worker(c, t, f"+1415555170{i}", loc=list(p), capacity=9) for i, p in enumerate(spots)]
        ids = [task(c, lon, lat, quantity=1 + k % 3)["id"] for k, (lon, lat) in enumerate(points)]
        c.put(f"{A}/containers/teams/{t}", json={"tasks": [0, *ids]})
        return t, ws, ids

    with make_client(seed=5) as c:
        c.headers.update(onfleet_auth())
        t, ws, ids = build(c)
        out = c.post(f"{A}/teams/{t}/dispatch", json={"maxTasksPerRoute": 8}).json()
        got = {x: c.get(f"{A}/tasks/{x}").json()["worker"] for x in ids}
        order = {w: c.get(f"{A}/workers/{w}").json()["tasks"] for w in ws}
    with make_client(seed=5) as c:
        c.headers.update(onfleet_auth())
        t2, ws2, ids2 = build(c)
        assert (ws2, ids2) == (ws, ids)  # same seed, same ids
        st = c.app.state.emulator.onfleet.state  # type: ignore[attr-defined]
        opts = {"mode": "load", "team": t2, "max": 8, "deps": False, "excl": []}
        for x in ids2:
            st.auto_assign(st.tasks[x], opts)
        want = {x: st.tasks[x].worker for x in ids2}
        want_order = {w: list(st.workers[w].tasks) for w in ws2}
    assert got == want and order == want_order
    assert out["assignedTasks"] == [x for x in ids if want[x] is not None]
    assert 0 < len(out["assignedTasks"]) < len(ids)  # capacity and the cap left some


def test_insert_with_no_ids_changes_nothing(client: TestClient) -> None:
    t = team(client)
    w = worker(client, t, "+14155551801")
    org = client.get(f"{A}/organization").json()["id"]
    a, b, c = (task(client, -122.41, 37.77)["id"] for _ in range(3))
    client.put(f"{A}/containers/workers/{w}", json={"tasks": [a]})
    client.put(f"{A}/containers/teams/{t}", json={"tasks": [0, b]})
    for kind, cid, held in (("workers", w, [a]), ("teams", t, [b]), ("organizations", org, [c])):
        r = client.put(f"{A}/containers/{kind}/{cid}", json={"tasks": [0]})
        assert r.status_code == 200 and r.json()["tasks"] == held, kind
    # Organisation: a move to the end or the middle keeps every other task in order.
    d, e = task(client, -122.41, 37.77)["id"], task(client, -122.41, 37.77)["id"]
    assert client.get(f"{A}/containers/organizations/{org}").json()["tasks"] == [c, d, e]
    assert client.put(f"{A}/containers/organizations/{org}", json={"tasks": [-1, c]}).json()[
        "tasks"
    ] == [d, e, c]
    assert client.put(f"{A}/containers/organizations/{org}", json={"tasks": [2, d]}).json()[
        "tasks"
    ] == [e, c, d]
    assert client.put(f"{A}/containers/organizations/{org}", json={"tasks": [1, a, d]}).json()[
        "tasks"
    ] == [e, a, d, c]
    assert client.get(f"{A}/workers/{w}").json()["tasks"] == []


def test_update_and_schedule_edges_fire_worker_webhooks() -> None:
    from tests.loadtest.emulator.sinks import recording_client

    with recording_client(time_scale=3600.0) as (c, sink):
        clock = c.app.state.emulator.rt.clock  # type: ignore[attr-defined]
        t = team(c)
        w = worker(c, t, "+14155551901")
        c.put(f"{A}/workers/{w}", json={"name": "Renamed"})
        (upd,) = sink.of("workerUpdated")
        assert upd.body["workerId"] == w and upd.body["data"]["worker"]["name"] == "Renamed"
        assert upd.body["triggerId"] == 25
        now = clock.now_ms()
        start = now + 1_800_000
        entry = {"date": "2030-01-01", "timezone": "UTC", "shifts": [[start, start + 10**9]]}
        c.post(f"{A}/workers/{w}/schedule", json={"entries": [entry]})
        assert sink.of("workerDuty") == []
        deadline = time.monotonic() + 30
        while clock.now_ms() <= start and time.monotonic() < deadline:
            time.sleep(0.05)
        c.get(f"{A}/workers")  # the first read after the edge applies it
        (duty,) = sink.of("workerDuty")
        assert duty.body["workerId"] == w and duty.body["status"] == 1


BAD_BODIES: list[Any] = [
    None,
    [],
    {},
    "x",
    7,
    [None],
    {"tasks": "x"},
    {"tasks": [True, "x"]},
    {"entries": [{"date": None, "timezone": 1, "shifts": [[1.5, "2"]]}]},
    {"name": ["x"], "email": {}, "phone": 5, "teams": "t", "metadata": [{"name": "n"}]},
    {"vehicle": {"type": []}, "capacity": "x", "address": 3, "location": [1e9, "a"]},
    {"workers": [1], "managers": None, "hub": 3, "maxTasksPerRoute": 1.5},
    {"path": 5, "method": "POST"},
    [{"name": "n", "type": "array", "value": [], "subtype": "nope"}],
]
BAD_QUERIES: list[dict[str, str]] = [
    {},
    {"from": "-1", "to": "x", "lastId": "nope", "isPickupTask": "2"},
    {"longitude": "nan", "latitude": "inf", "radius": "-1"},
    {"pickupLocation": "a,b,c", "dropoffLocation": ",", "pickupTime": "x", "serviceTime": "-5"},
    {"filter": ",,,", "states": "a", "phones": "+", "teams": ","},
]


def test_no_fleet_route_answers_5xx_to_garbage(client: TestClient) -> None:
    """Every fleet route, with known and unknown ids, bad bodies and bad queries: a 4xx
    in Onfleet's shape (or a 200), never a 5xx."""
    t = team(client)
    w = worker(client, t, "+14155552001", loc=[-122.41, 37.77])
    org = client.get(f"{A}/organization").json()["id"]
    admin = client.get(f"{A}/admins").json()[0]["id"]
    hub = client.post(f"{A}/hubs", json={"name": "H", "address": {"unparsed": "1 Main St"}}).json()[
        "id"
    ]
    known = {"orgId": org, "adminId": admin, "workerId": w, "teamId": t, "hubId": hub, "id": w}
    # Deletes last, so the other routes meet the known records.
    ops = sorted(OPERATIONS, key=lambda op: op[0] == "delete")
    for method, path, *_ in ops:
        for ids in (known, dict.fromkeys(known, "AAAAAAAAAAAAAAAAAAAAAAAA")):
            if "organizations/{id}" in path or "organization/{id}" in path:
                ids = {**ids, "id": org if ids is known else ids["id"]}
            if "teams/{id}" in path:
                ids = {**ids, "id": t if ids is known else ids["id"]}
            url = path.format(**ids)
            if method in ("post", "put"):
                cases = [({}, b) for b in BAD_BODIES] + [(BAD_QUERIES[1], {})]
            else:
                cases = [(q, None) for q in BAD_QUERIES]
            for q, body in cases:
                r = client.request(method.upper(), url, params=q, json=body)
                assert r.status_code < 500, (method, url, q, body, r.text)
                if r.status_code >= 400:
                    msg = r.json()["message"]
                    assert isinstance(msg["error"], int) and msg["message"], r.text


def test_every_fleet_answer_matches_its_response_model(client: TestClient) -> None:
    """A successful call of every fleet operation, validated by RESPONSES' model."""
    t = team(client)
    w = worker(client, t, "+14155552101", loc=[-122.41, 37.77], vehicle={"type": "CAR"})
    org = client.get(f"{A}/organization").json()["id"]
    a, b, c = (task(client, -122.41, 37.77)["id"] for _ in range(3))
    hub_body = {"name": "H", "address": {"unparsed": "1 Main St"}, "teams": [t]}
    hub = client.post(f"{A}/hubs", json=hub_body).json()["id"]
    meta = [{"name": "k", "type": "string", "value": "v"}]
    admin = client.post(
        f"{A}/admins", json={"name": "A", "email": "a@x.io", "metadata": meta}
    ).json()["id"]
    client.put(f"{A}/workers/{w}", json={"metadata": meta})
    entry = {"date": "2030-01-01", "timezone": "UTC", "shifts": [[4 * 10**12, 4 * 10**12 + 1]]}
    manifest_path = f"providers/manifest/generate?hubId={hub}&workerId={w}"
    calls: list[tuple[str, str, str, dict[str, Any], Any]] = [
        ("get", "/organization", "/organization", {}, None),
        ("get", "/organizations/{orgId}", f"/organizations/{org}", {}, None),
        ("get", "/admins", "/admins", {}, None),
        ("post", "/admins", "/admins", {}, {"name": "B", "email": "b@x.io"}),
        ("post", "/admins/metadata", "/admins/metadata", {}, meta),
        ("put", "/admins/{adminId}", f"/admins/{admin}", {}, {"name": "AA"}),
        ("get", "/workers", "/workers", {"filter": "id,name"}, None),
        (
            "get",
            "/workers/location",
            "/workers/location",
            {"longitude": -122.41, "latitude": 37.77},
            None,
        ),
        ("post", "/workers/metadata", "/workers/metadata", {}, meta),
        ("get", "/workers/{workerId}", f"/workers/{w}", {}, None),
        ("put", "/workers/{workerId}", f"/workers/{w}", {}, {"capacity": 3}),
        ("put", "/containers/workers/{id}", f"/containers/workers/{w}", {}, {"tasks": [a]}),
        ("put", "/containers/teams/{id}", f"/containers/teams/{t}", {}, {"tasks": [0, b]}),
        (
            "put",
            "/containers/organizations/{id}",
            f"/containers/organizations/{org}",
            {},
            {"tasks": [0, c]},
        ),
        (
            "put",
            "/containers/organization/{id}",
            f"/containers/organization/{org}",
            {},
            {"tasks": [-1, c]},
        ),
        ("put", "/containers/{id}", f"/containers/{w}", {}, {"tasks": [0, a]}),
        ("get", "/containers/workers/{id}", f"/containers/workers/{w}", {}, None),
        ("get", "/containers/teams/{id}", f"/containers/teams/{t}", {}, None),
        ("get", "/containers/organizations/{id}", f"/containers/organizations/{org}", {}, None),
        ("get", "/workers/{workerId}/tasks", f"/workers/{w}/tasks", {}, None),
        (
            "post",
            "/workers/{workerId}/schedule",
            f"/workers/{w}/schedule",
            {},
            {"entries": [entry]},
        ),
        ("get", "/workers/{workerId}/schedule", f"/workers/{w}/schedule", {}, None),
        (
            "post",
            "/integrations/marketplace",
            "/integrations/marketplace",
            {},
            {"path": manifest_path},
        ),
        ("put", "/teams/{teamId}", f"/teams/{t}", {}, {"name": "TT"}),
        ("get", "/teams/{teamId}/tasks", f"/teams/{t}/tasks", {}, None),
        (
            "get",
            "/teams/{teamId}/estimate",
            f"/teams/{t}/estimate",
            {"dropoffLocation": "-122.4,37.78"},
            None,
        ),
        ("post", "/teams/{teamId}/dispatch", f"/teams/{t}/dispatch", {}, {}),
        ("get", "/hubs", "/hubs", {}, None),
        ("post", "/hubs", "/hubs", {}, hub_body),
        ("put", "/hubs/{hubId}", f"/hubs/{hub}", {}, {"name": "HH"}),
    ]
    checked = set()
    for method, template, path, q, body in calls:
        r = client.request(method.upper(), A + path, params=q, json=body)
        assert r.status_code == 200, (method, path, r.text)
        RESPONSES[(method, A + template)].model_validate(r.json())
        checked.add((method, A + template))
    assert checked == {k for k, v in RESPONSES.items() if v is not None}  # deletes: None
