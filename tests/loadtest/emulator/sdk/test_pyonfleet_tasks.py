"""Every pyonfleet method of ``tasks``, ``recipients``, ``destinations``, ``routeplans`` and
``webhooks``, called through the official SDK against a real emulator on loopback.

pyonfleet caps itself at 20 calls per second per process (``ratelimit.limits``, which
raises rather than waits), so :func:`paced` spaces the calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.loadtest.emulator.webhook_helpers import Receiver

_last = [0.0]


def paced(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call an SDK method at most ~16 times per second (pyonfleet's own cap is 20)."""
    wait = _last[0] + 0.06 - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    _last[0] = time.monotonic()
    return fn(*args, **kwargs)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _dest(lng: float = -122.41, lat: float = 37.77) -> dict[str, Any]:
    return {"location": [lng, lat]}


def test_tasks_every_method(pyonfleet: Any, sdk_url: str) -> None:
    from onfleet.error import ValidationError

    of = pyonfleet
    meta = [{"name": "order", "type": "string", "value": "py-1"}]
    t = paced(of.tasks.create, body={"destination": _dest(), "metadata": meta, "notes": "n"})
    assert t["state"] == 0 and len(t["id"]) == 24
    assert paced(of.tasks.get, t["id"])["id"] == t["id"]
    assert paced(of.tasks.get, shortId=t["shortId"])["id"] == t["id"]
    listed = paced(of.tasks.get, queryParams={"from": 0})
    assert t["id"] in [x["id"] for x in listed["tasks"]]
    assert paced(of.tasks.update, t["id"], body={"notes": "changed"})["notes"] == "changed"
    c = paced(of.tasks.clone, t["id"])
    assert c["sourceTaskId"] == t["id"] and c["id"] != t["id"]
    c2 = paced(of.tasks.clone, t["id"], body={"options": {"includeMetadata": True}})
    assert c2["metadata"] == meta
    matched = paced(of.tasks.matchMetadata, body=meta)
    assert {x["id"] for x in matched} == {t["id"], c2["id"]}
    batch = paced(of.tasks.batchCreate, body={"tasks": [{"destination": _dest()}] * 3})
    assert len(batch["tasks"]) == 3 and batch["errors"] == []
    job = paced(of.tasks.batchCreateAsync, body={"tasks": [{"destination": _dest()}] * 2})
    status: dict[str, Any] = {}
    for _ in range(100):  # bounded: the job finishes in well under a second
        status = paced(of.tasks.getBatchCreateAsyncStatus, id=job["jobId"])
        if status["status"] != "pending" and status["tasksCreated"] + status["tasksErrored"] == 2:
            break
    assert status["tasksCreated"] == 2
    # autoAssign: a worker on duty next to the task takes it.
    team = paced(of.teams.create, body={"name": "py-team"})
    w = paced(
        of.workers.create, body={"name": "Py", "phone": "+14155553001", "teams": [team["id"]]}
    )
    _driver_on_duty(sdk_url, w["id"], [-122.41, 37.77])
    out = paced(of.tasks.autoAssign, body={"tasks": [c["id"]], "options": {"mode": "distance"}})
    assert out == {"assignedTasksCount": 1, "assignedTasks": {c["id"]: w["id"]}}
    with pytest.raises(ValidationError):
        paced(of.tasks.autoAssign, body={"tasks": [c["id"]], "options": {"mode": "distance"}})
    # forceComplete needs an active task: the driver app starts it.
    _driver_start(sdk_url, c["id"])
    done = paced(of.tasks.forceComplete, c["id"], body={"completionDetails": {"success": True}})
    assert done == 200
    assert paced(of.tasks.get, c["id"])["state"] == 3
    assert paced(of.tasks.deleteOne, t["id"]) == 200
    with pytest.raises(Exception, match="does not exist"):
        paced(of.tasks.get, t["id"])


def test_recipients_and_destinations_every_method(pyonfleet: Any) -> None:
    from onfleet.error import ValidationError

    of = pyonfleet
    meta = [{"name": "tier", "type": "string", "value": "gold"}]
    r = paced(
        of.recipients.create, body={"name": "Py Ann", "phone": "4155553100", "metadata": meta}
    )
    assert r["phone"] == "+14155553100"
    assert paced(of.recipients.get, r["id"])["id"] == r["id"]
    assert paced(of.recipients.get, name="Py Ann")["id"] == r["id"]
    assert paced(of.recipients.get, phone="+14155553100")["id"] == r["id"]
    assert paced(of.recipients.update, r["id"], body={"notes": "gate 4"})["notes"] == "gate 4"
    assert [x["id"] for x in paced(of.recipients.matchMetadata, body=meta)] == [r["id"]]
    with pytest.raises(ValidationError) as exc:
        paced(of.recipients.create, body={"name": "Dup", "phone": "+14155553100"})
    assert exc.value.args[1] == 1004  # (message, code, request, cause)
    d = paced(
        of.destinations.create,
        body={"address": {"unparsed": "1 Market St, San Francisco"}, "metadata": meta},
    )
    assert len(d["location"]) == 2
    assert paced(of.destinations.get, d["id"])["id"] == d["id"]
    assert [x["id"] for x in paced(of.destinations.matchMetadata, body=meta)] == [d["id"]]
    t = paced(of.tasks.create, body={"destination": d["id"], "recipients": [r["id"]]})
    assert t["destination"]["id"] == d["id"] and t["recipients"][0]["notes"] == "gate 4"


def test_routeplans_every_method(pyonfleet: Any) -> None:
    of = pyonfleet
    a = paced(of.tasks.create, body={"destination": _dest()})
    b = paced(of.tasks.create, body={"destination": _dest()})
    plan = paced(
        of.routeplans.create,
        body={"name": "Py route", "startTime": 1_900_000_000_000, "tasks": [a["id"]]},
    )
    assert plan["state"] == "PENDING" and plan["tasks"] == [a["id"]]
    assert paced(of.routeplans.get, plan["id"])["id"] == plan["id"]
    assert plan["id"] in [p["id"] for p in paced(of.routeplans.get)]
    assert paced(of.routeplans.update, plan["id"], body={"color": "#123456"})["color"] == "#123456"
    added = paced(of.routeplans.addTasksToRoutePlan, plan["id"], body={"tasks": [b["id"]]})
    assert added["tasks"] == [a["id"], b["id"]] and added["taskStates"] == [0, 0]
    assert paced(of.routeplans.deleteOne, plan["id"]) == 200
    assert plan["id"] not in [p["id"] for p in paced(of.routeplans.get)]


def test_webhooks_every_method(pyonfleet: Any, receiver: Receiver) -> None:
    of = pyonfleet
    hook = paced(of.webhooks.create, body={"url": receiver.url, "name": "py", "trigger": 6})
    assert hook["trigger"] == 6 and hook["isEnabled"] is True and receiver.checks
    assert hook["id"] in [h["id"] for h in paced(of.webhooks.get)]
    assert paced(of.webhooks.deleteOne, hook["id"]) == 200
    assert hook["id"] not in [h["id"] for h in paced(of.webhooks.get)]


def _driver_on_duty(url: str, worker_id: str, loc: list[float]) -> None:
    import httpx

    r = httpx.post(
        f"{url}/emulator/v1/workers/{worker_id}/duty",
        json={"onDuty": True, "location": loc},
        auth=(_key(), ""),
    )
    assert r.status_code == 200, r.text


def _driver_start(url: str, task_id: str) -> None:
    import httpx

    r = httpx.post(f"{url}/emulator/v1/tasks/{task_id}/start", auth=(_key(), ""))
    assert r.status_code == 200, r.text


def _key() -> str:
    from tests.loadtest.emulator.helpers import KEY

    return KEY
