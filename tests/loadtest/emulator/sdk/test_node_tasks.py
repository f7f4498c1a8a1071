"""Every node-onfleet (1.4) method of Tasks, Recipients, Destinations, Routeplan,
CustomFields and Webhooks, run by ``node/tasks.mjs`` against a real emulator on loopback.

node-onfleet 1.4 raises ``TypeError: HttpError is not a constructor`` for every non-2xx
answer (its error factories are arrow functions called with ``new``), so the script can only
record *that* a refused call threw; the refusals' codes are checked over HTTP in
``tests/loadtest/emulator/test_onfleet_task_ops.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.loadtest.emulator.webhook_helpers import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def test_node_onfleet_every_task_method(node_sdk: Callable[..., Any], receiver: Receiver) -> None:
    out = node_sdk("tasks.mjs", receiver.url, "42", timeout_s=120.0)
    t = out["created"]
    # Tasks
    assert t["state"] == 0 and len(t["id"]) == 24
    assert out["getById"] == out["getByShortId"] == t["id"] and t["id"] in out["listed"]
    assert out["updatedNotes"] == "changed"
    assert out["clone"]["sourceTaskId"] == t["id"] and out["clone"]["state"] == 0
    assert out["clone2Metadata"] == t["metadata"]
    assert len(out["matched"]) == 2 and t["id"] in out["matched"]
    assert out["batch"] == 2 and out["asyncCreated"] == 1
    assert out["autoAssign"] == {
        "assignedTasksCount": 1,
        "assignedTasks": {out["clone"]["id"]: out["workerId"]},
    }
    assert out["autoAssignAgainThrew"] is True
    assert out["forceComplete"] == 200 and out["completedState"] == 3
    assert out["deleted"] == 200 and out["getDeletedThrew"] is True
    # Recipients and destinations
    r = out["recipient"]
    assert r["phone"] == "+1415555421"
    assert out["recipientById"] == out["recipientByName"] == out["recipientByPhone"] == r["id"]
    assert out["recipientUpdated"] == "gate 4" and out["recipientsMatched"] == [r["id"]]
    assert out["duplicatePhoneThrew"] is True
    d = out["destination"]
    assert out["destinationById"] == d["id"] and out["destinationsMatched"] == [d["id"]]
    assert out["taskByIds"] == {"destination": d["id"], "recipient": r["id"], "notes": "gate 4"}
    # Routeplan
    assert out["plan"]["state"] == "PENDING" and out["planById"] == out["plan"]["id"]
    assert out["plan"]["id"] in out["plansListed"]
    assert out["plansOfWorker"] == [out["plan"]["id"]]
    assert out["planColor"] == "#123456" and out["planTasks"] == out["planTaskIds"]
    assert out["planDeleted"] == 200 and out["plan"]["id"] not in out["plansAfterDelete"]
    # CustomFields
    assert out["fieldCreated"]["key"] == "gate42" and "gate42" in out["fieldsListed"]
    assert out["fieldUpdated"]["description"] == "at the door"
    assert out["fieldDeleted"] == 200 and "gate42" not in out["fieldsAfterDelete"]
    # Webhooks
    assert out["hook"]["trigger"] == 6 and receiver.checks
    assert out["hook"]["id"] in out["hooksListed"]
    assert out["hookDeleted"] == 200 and out["hook"]["id"] not in out["hooksAfterDelete"]
