"""Every pyonfleet method of admins/administrators, containers, hubs, organization, teams
and workers, called through the SDK against a real emulator, with the answers checked.

pyonfleet allows itself 20 calls a second per process and raises
``ratelimit.RateLimitException`` past that, so every call goes through :func:`call`, which
waits out the SDK's own window (the emulator's fast profile has no limit).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.loadtest.emulator.helpers import KEY

ORG_PHONE = iter(range(100, 1000))


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    from ratelimit import RateLimitException

    for _ in range(50):
        try:
            return fn(*args, **kwargs)
        except RateLimitException as exc:
            time.sleep(max(0.05, float(exc.period_remaining)))
    raise AssertionError("pyonfleet's own rate limiter never let the call through")


def phone() -> str:
    return f"+1415555{next(ORG_PHONE):04d}"


def driver(sdk_url: str, wid: str, lon: float, lat: float) -> None:
    """The emulator-only driver app: on duty at (lon, lat)."""
    r = requests.post(
        f"{sdk_url}/emulator/v1/workers/{wid}/duty",
        json={"onDuty": True, "location": [lon, lat]},
        auth=(KEY, ""),
        timeout=10,
    )
    assert r.status_code == 200, r.text


def make_task(of: Any, lon: float, lat: float, **extra: Any) -> dict[str, Any]:
    t = call(of.tasks.create, body={"destination": {"location": [lon, lat]}, **extra})
    assert len(t["id"]) == 24
    return dict(t)


def test_organization(pyonfleet: Any) -> None:
    org = call(pyonfleet.organization.get)
    assert len(org["id"]) == 24 and org["name"] and org["delegatees"] == []
    again = call(pyonfleet.organization.get, org["id"])
    assert again["id"] == org["id"] and again["name"] == org["name"]
    t = make_task(pyonfleet, -122.41, 37.77)
    # insertTask appends to the organisation's container (pyonfleet's singular path).
    out = call(pyonfleet.organization.insertTask, org["id"], body={"tasks": [-1, t["id"]]})
    assert out["type"] == "ORGANIZATION" and out["tasks"][-1] == t["id"]


@pytest.mark.parametrize("endpoint", ["admins", "administrators"])
def test_admins(pyonfleet: Any, endpoint: str) -> None:
    from onfleet.error import ValidationError

    ep = getattr(pyonfleet, endpoint)
    meta = [{"name": "desk", "type": "string", "value": endpoint}]
    a = call(
        ep.create, body={"name": "Ann", "email": f"ann.{endpoint}@example.com", "metadata": meta}
    )
    assert a["email"] == f"ann.{endpoint}@example.com" and a["isAccountOwner"] is False
    assert a["id"] in [x["id"] for x in call(ep.get)]
    up = call(ep.update, a["id"], body={"name": "Annabel"})
    assert up["name"] == "Annabel"
    if endpoint == "administrators":
        hits = call(ep.matchMetadata, body=meta)
        assert [x["id"] for x in hits] == [a["id"]]
    with pytest.raises(ValidationError):
        call(ep.create, body={"name": "Dup", "email": f"ann.{endpoint}@example.com"})
    assert call(ep.deleteOne, a["id"]) == 200
    assert a["id"] not in [x["id"] for x in call(ep.get)]


def test_teams(pyonfleet: Any, sdk_url: str) -> None:
    team = call(pyonfleet.teams.create, body={"name": "North"})
    spare = call(pyonfleet.teams.create, body={"name": "Spare"})
    assert team["id"] in [x["id"] for x in call(pyonfleet.teams.get)]
    assert call(pyonfleet.teams.get, team["id"])["name"] == "North"
    w1 = call(pyonfleet.workers.create, body={"name": "A", "phone": phone(), "teams": [team["id"]]})
    w2 = call(pyonfleet.workers.create, body={"name": "B", "phone": phone(), "teams": [team["id"]]})
    driver(sdk_url, w1["id"], -122.41, 37.77)
    driver(sdk_url, w2["id"], -122.30, 37.70)
    up = call(pyonfleet.teams.update, team["id"], body={"name": "North-East"})
    assert up["name"] == "North-East" and up["workers"] == [w1["id"], w2["id"]]
    a = make_task(pyonfleet, -122.41, 37.771)
    b = make_task(pyonfleet, -122.301, 37.70)
    box = call(pyonfleet.teams.insertTask, team["id"], body={"tasks": [0, a["id"], b["id"]]})
    assert box["type"] == "TEAM" and box["tasks"] == [a["id"], b["id"]]
    page = call(pyonfleet.teams.getTasks, team["id"])
    assert [x["id"] for x in page["tasks"]] == [a["id"], b["id"]]
    eta = call(
        pyonfleet.teams.getWorkerEta,
        team["id"],
        queryParams={"dropoffLocation": "-122.405,37.775", "serviceTime": 120},
    )
    assert eta["workerId"] == w1["id"] and eta["steps"][0]["serviceTime"] == 120
    out = call(pyonfleet.teams.autoDispatch, team["id"])
    assert len(out["dispatchId"]) == 24 and sorted(out["assignedTasks"]) == sorted(
        [a["id"], b["id"]]
    )
    assert call(pyonfleet.tasks.get, a["id"])["worker"] == w1["id"]
    assert call(pyonfleet.tasks.get, b["id"])["worker"] == w2["id"]
    assert call(pyonfleet.teams.deleteOne, spare["id"]) == 200
    assert spare["id"] not in [x["id"] for x in call(pyonfleet.teams.get)]


def test_workers(pyonfleet: Any, sdk_url: str) -> None:
    from onfleet.error import ValidationError

    team = call(pyonfleet.teams.create, body={"name": "Workers"})
    other = call(pyonfleet.teams.create, body={"name": "Other"})
    p = phone()
    w = call(pyonfleet.workers.create, body={"name": "Wes", "phone": p, "teams": [team["id"]]})
    spare = call(
        pyonfleet.workers.create, body={"name": "Spare", "phone": phone(), "teams": [team["id"]]}
    )
    assert w["id"] in [x["id"] for x in call(pyonfleet.workers.get)]
    assert call(pyonfleet.workers.get, w["id"])["name"] == "Wes"
    only = call(pyonfleet.workers.get, queryParams={"phones": p, "filter": "id,phone"})
    assert only == [{"id": w["id"], "phone": p}]
    one = call(pyonfleet.workers.get, w["id"], queryParams={"filter": "name"})
    assert one == {"name": "Wes"}
    meta = [{"name": "badge", "type": "number", "value": 7}]
    up = call(
        pyonfleet.workers.update,
        w["id"],
        body={
            "name": "Wesley",
            "teams": [team["id"], other["id"]],
            "capacity": 5,
            "metadata": meta,
        },
    )
    assert (
        up["name"] == "Wesley" and up["teams"] == [team["id"], other["id"]] and up["capacity"] == 5
    )
    with pytest.raises(ValidationError):
        call(pyonfleet.workers.update, w["id"], body={"phone": "12"})
    assert [x["id"] for x in call(pyonfleet.workers.matchMetadata, body=meta)] == [w["id"]]
    driver(sdk_url, w["id"], -122.4194, 37.7749)
    near = call(
        pyonfleet.workers.getByLocation,
        queryParams={"longitude": -122.4194, "latitude": 37.7760, "radius": 500},
    )
    assert [x["id"] for x in near["workers"]] == [w["id"]]
    states = call(pyonfleet.workers.get, queryParams={"states": "1", "teams": other["id"]})
    assert [x["id"] for x in states] == [w["id"]]
    a = make_task(pyonfleet, -122.41, 37.77, pickupTask=True)
    b = make_task(pyonfleet, -122.42, 37.78)
    box = call(pyonfleet.workers.insertTask, w["id"], body={"tasks": [a["id"], b["id"]]})
    assert box["type"] == "WORKER" and box["tasks"] == [a["id"], b["id"]]
    page = call(pyonfleet.workers.getTasks, w["id"])
    assert [x["id"] for x in page["tasks"]] == [a["id"], b["id"]]
    picks = call(pyonfleet.workers.getTasks, w["id"], queryParams={"isPickupTask": "true"})
    assert [x["id"] for x in picks["tasks"]] == [a["id"]]
    now = int(time.time() * 1000)
    entry = {
        "date": "2031-05-01",
        "timezone": "America/New_York",
        "shifts": [[now + 10**9, now + 10**9 + 3_600_000]],
    }
    assert call(pyonfleet.workers.setSchedule, w["id"], body={"entries": [entry]}) == {
        "entries": [entry]
    }
    assert call(pyonfleet.workers.getSchedule, w["id"]) == {"entries": [entry]}
    hub = call(
        pyonfleet.hubs.create,
        body={
            "name": "Depot",
            "address": {"unparsed": "1 Market St"},
            "location": [-122.40, 37.79],
        },
    )
    m = call(pyonfleet.workers.getDeliveryManifest, hubId=hub["id"], workerId=w["id"])
    assert [x["id"] for x in m["tasks"]] == [a["id"], b["id"]] and m["driver"]["phone"] == p
    assert call(pyonfleet.workers.deleteOne, spare["id"]) == 200
    assert spare["id"] not in [x["id"] for x in call(pyonfleet.workers.get)]


def test_containers(pyonfleet: Any) -> None:
    team = call(pyonfleet.teams.create, body={"name": "Boxes"})
    w = call(pyonfleet.workers.create, body={"name": "C", "phone": phone(), "teams": [team["id"]]})
    org = call(pyonfleet.organization.get)
    a = make_task(pyonfleet, -122.41, 37.77)
    b = make_task(pyonfleet, -122.42, 37.78)
    out = call(pyonfleet.containers.update, w["id"], body={"tasks": [a["id"], b["id"]]})
    assert out["type"] == "WORKER" and out["tasks"] == [a["id"], b["id"]]
    assert call(pyonfleet.containers.get, workers=w["id"])["tasks"] == [a["id"], b["id"]]
    out = call(pyonfleet.containers.update, team["id"], body={"tasks": [0, b["id"]]})
    assert out["type"] == "TEAM" and out["tasks"] == [b["id"]]
    assert call(pyonfleet.containers.get, teams=team["id"])["tasks"] == [b["id"]]
    orgbox = call(pyonfleet.containers.get, organizations=org["id"])
    assert orgbox["type"] == "ORGANIZATION" and a["id"] not in orgbox["tasks"]
    assert call(pyonfleet.tasks.get, b["id"])["state"] == 0


def test_hubs(pyonfleet: Any) -> None:
    team = call(pyonfleet.teams.create, body={"name": "Hubbed"})
    hub = call(
        pyonfleet.hubs.create,
        body={
            "name": "Pier",
            "address": {"unparsed": "Pier 39, San Francisco"},
            "teams": [team["id"]],
        },
    )
    assert len(hub["id"]) == 24 and len(hub["location"]) == 2 and hub["teams"] == [team["id"]]
    assert hub["id"] in [h["id"] for h in call(pyonfleet.hubs.get)]
    up = call(pyonfleet.hubs.update, hub["id"], body={"name": "Pier 39"})
    assert up["name"] == "Pier 39"
    assert call(pyonfleet.teams.get, team["id"])["hub"] == hub["id"]
