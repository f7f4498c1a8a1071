"""Onfleet workers, teams, containers, autoAssign (the simulator's policy) and the
emulator-only driver app, through a full task lifecycle."""

from __future__ import annotations

from typing import Any

import pytest

from sim.dispatch import (
    AutoAssignOptions,
    FleetSnapshot,
    TaskPoint,
    WorkerView,
    choose_worker_bruteforce,
)
from tests.loadtest.emulator.helpers import TestClient, make_client, onfleet_auth

A = "/api/v2"
C = "/emulator/v1"


def team(client: TestClient, name: str = "T") -> str:
    r = client.post(f"{A}/teams", json={"name": name})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def worker(
    client: TestClient, team_id: str, phone: str, loc: list[float] | None = None, **extra: Any
) -> str:
    r = client.post(
        f"{A}/workers", json={"name": "W" + phone[-3:], "phone": phone, "teams": [team_id], **extra}
    )
    assert r.status_code == 200, r.text
    wid = str(r.json()["id"])
    if loc is not None:
        r = client.post(f"{C}/workers/{wid}/duty", json={"onDuty": True, "location": loc})
        assert r.status_code == 200 and r.json()["onDuty"] is True
    return wid


def task(client: TestClient, lng: float, lat: float, **extra: Any) -> dict[str, Any]:
    r = client.post(f"{A}/tasks", json={"destination": {"location": [lng, lat]}, **extra})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_worker_and_team_routes(client: TestClient) -> None:
    t = team(client)
    w = worker(client, t, "+14155550101", vehicle={"type": "BICYCLE"}, capacity=3)
    got = client.get(f"{A}/workers/{w}").json()
    assert got["phone"] == "+14155550101" and got["teams"] == [t]
    assert got["vehicle"]["type"] == "BICYCLE" and got["onDuty"] is False
    assert got["location"] is None
    assert [x["id"] for x in client.get(f"{A}/workers").json()] == [w]
    assert client.get(f"{A}/teams/{t}").json()["workers"] == [w]
    assert len(client.get(f"{A}/teams").json()) == 1
    dup = client.post(f"{A}/workers", json={"name": "X", "phone": "4155550101", "teams": [t]})
    assert dup.status_code == 400 and dup.json()["message"]["error"] == 1004
    assert client.post(f"{A}/workers", json={"name": "X", "phone": "4155550102"}).status_code == 400
    assert (
        client.post(
            f"{A}/workers", json={"name": "X", "phone": "4155550102", "teams": ["nope"]}
        ).status_code
        == 400
    )
    assert client.get(f"{A}/workers/nope").status_code == 404
    assert client.get(f"{A}/teams/nope").status_code == 404


def test_full_lifecycle_through_driver_app(client: TestClient) -> None:
    t = team(client)
    w = worker(client, t, "+14155550111")
    a = task(client, -122.41, 37.77)
    b = task(client, -122.42, 37.78, dependencies=[a["id"]])
    r = client.put(f"{A}/containers/workers/{w}", json={"tasks": [a["id"], b["id"]]})
    assert r.status_code == 200 and r.json()["tasks"] == [a["id"], b["id"]]
    assert client.get(f"{A}/tasks/{a['id']}").json()["state"] == 1
    # Off duty: cannot start.
    assert client.post(f"{C}/tasks/{a['id']}/start").status_code == 400
    client.post(f"{C}/workers/{w}/duty", json={"onDuty": True})
    # b depends on a, which is not completed yet.
    assert client.post(f"{C}/tasks/{b['id']}/start").status_code == 400
    started = client.post(f"{C}/tasks/{a['id']}/start")
    assert started.status_code == 200 and started.json()["state"] == 2
    cont = client.get(f"{A}/containers/workers/{w}").json()
    assert cont["activeTask"] == a["id"] and cont["tasks"] == [b["id"]]
    done = client.post(
        f"{A}/tasks/{a['id']}/complete",
        json={"completionDetails": {"success": True, "notes": "ok"}},
    )
    assert done.status_code == 200 and done.content == b""
    got = client.get(f"{A}/tasks/{a['id']}").json()
    assert got["state"] == 3 and got["completionDetails"]["success"] is True
    assert got["completionDetails"]["time"] is not None
    again = client.post(
        f"{A}/tasks/{a['id']}/complete", json={"completionDetails": {"success": True}}
    )
    assert again.status_code == 400
    assert client.put(f"{A}/tasks/{a['id']}", json={"notes": "x"}).status_code == 400
    assert client.post(f"{C}/tasks/{b['id']}/start").status_code == 200
    assert client.delete(f"{A}/tasks/{b['id']}").status_code == 400  # active
    fail = client.post(
        f"{A}/tasks/{b['id']}/complete",
        json={"completionDetails": {"success": False, "notes": "no one"}},
    )
    assert fail.status_code == 200
    got = client.get(f"{A}/tasks/{b['id']}").json()
    assert got["completionDetails"]["failureReason"] != "NONE"
    assert client.get(f"{A}/tasks/all?from=0&state=3").json()["tasks"][0]["id"] == a["id"]
    assert client.get(f"{A}/workers/{w}").json()["activeTask"] is None


def test_container_put_unassigns_and_inserts(client: TestClient) -> None:
    t = team(client)
    w = worker(client, t, "+14155550121")
    a, b, c = (task(client, -122.4, 37.7 + i / 100) for i in range(3))
    client.put(f"{A}/containers/workers/{w}", json={"tasks": [a["id"], b["id"]]})
    r = client.put(f"{A}/containers/workers/{w}", json={"tasks": [0, c["id"]]})
    assert r.json()["tasks"] == [c["id"], a["id"], b["id"]]
    r = client.put(f"{A}/containers/workers/{w}", json={"tasks": [b["id"]]})
    assert r.json()["tasks"] == [b["id"]]
    assert client.get(f"{A}/tasks/{a['id']}").json()["state"] == 0
    org = client.get(f"{A}/tasks/{a['id']}").json()["container"]
    assert org["type"] == "ORGANIZATION"
    orgc = client.get(f"{A}/containers/organizations/{org['organization']}").json()
    assert a["id"] in orgc["tasks"] and b["id"] not in orgc["tasks"]
    assert client.put(f"{A}/containers/workers/{w}", json={"tasks": ["zz"]}).status_code == 400
    assert client.put(f"{A}/containers/workers/nope", json={"tasks": []}).status_code == 404
    assert client.get(f"{A}/containers/teams/{t}").json()["type"] == "TEAM"


@pytest.mark.parametrize("mode", ["distance", "load"])
def test_auto_assign_matches_the_simulator_policy(mode: str) -> None:
    with make_client() as client:
        client.headers.update(onfleet_auth())
        t = team(client)
        spots = [(-122.40, 37.77), (-122.45, 37.75), (-122.38, 37.80), (-122.50, 37.72)]
        wids = [worker(client, t, f"+1415555020{i}", list(s)) for i, s in enumerate(spots)]
        off = worker(client, t, "+14155550299")  # off duty: never chosen
        rng_pts = [(-122.41 + k * 0.013, 37.74 + (k * 7 % 5) * 0.011) for k in range(12)]
        for lng, lat in rng_pts:
            # What the policy should pick, from the emulator's own view of the fleet.
            views = []
            for wid in wids:
                wj = client.get(f"{A}/workers/{wid}").json()
                wl, wa = wj["location"]
                route, end = 0.0, (wa, wl)
                from sim.geo import geodesic_m

                for tid in wj["tasks"]:
                    tl, ta = client.get(f"{A}/tasks/{tid}").json()["destination"]["location"]
                    route += geodesic_m(end[0], end[1], ta, tl)
                    end = (ta, tl)
                views.append(
                    WorkerView(
                        id=wid,
                        lat=wa,
                        lon=wl,
                        on_duty=True,
                        teams=frozenset([t]),
                        assigned_count=len(wj["tasks"]),
                        route_m=route,
                        end_lat=end[0],
                        end_lon=end[1],
                    )
                )
            expect = choose_worker_bruteforce(
                FleetSnapshot.build(views),
                TaskPoint(lat, lng),
                AutoAssignOptions(mode=mode),  # type: ignore[arg-type]
            )
            got = task(client, lng, lat, autoAssign={"mode": mode})
            assert got["didAutoAssign"] is True
            assert got["worker"] == expect != off
            assert got["state"] == 1


def test_auto_assign_options_and_no_candidate(client: TestClient) -> None:
    t = team(client)
    got = task(client, -122.4, 37.7, autoAssign={"mode": "distance"})
    assert got["didAutoAssign"] is False and got["state"] == 0
    w1 = worker(client, t, "+14155550301", [-122.40, 37.70])
    w2 = worker(client, t, "+14155550302", [-122.50, 37.80])
    got = task(client, -122.4, 37.7, autoAssign={"mode": "distance", "excludedWorkerIds": [w1]})
    assert got["worker"] == w2
    got = task(client, -122.4, 37.7, autoAssign={"mode": "distance", "maxAssignedTaskCount": 0})
    assert got["didAutoAssign"] is False
    got = task(client, -122.4, 37.7, autoAssign={"mode": "distance", "team": "other"})
    assert got["didAutoAssign"] is False
    r = client.post(f"{C}/workers/{w1}/location", json={"location": [-122.5, 37.8]})
    assert r.status_code == 200 and r.json()["location"] == [-122.5, 37.8]
    assert client.post(f"{C}/workers/{w1}/location", json={"location": [1]}).status_code == 400


def test_container_cap_and_lock() -> None:
    with make_client(container_cap=3) as client:
        client.headers.update(onfleet_auth())
        for _ in range(3):
            task(client, -122.4, 37.7)
        r = client.post(f"{A}/tasks", json={"destination": {"location": [-122.4, 37.7]}})
        assert r.status_code == 400 and "3" in r.json()["message"]["cause"]
        j = client.post(
            f"{A}/tasks/batch", json={"tasks": [{"destination": {"location": [-122.4, 37.7]}}] * 2}
        ).json()
        assert len(j["errors"]) == 2
