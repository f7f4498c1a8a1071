"""Nash, Deftship and HyperTrack: lifecycles, seed conformance and error shapes."""

from __future__ import annotations

import time
from typing import Any

import pytest

from loadtest.providers import deftship, hypertrack, nash
from tests.loadtest.emulator.helpers import (
    TestClient,
    bearer,
    conforms,
    ht_auth,
    make_client,
    seed,
)

NASH = bearer()


def pkg(pick: tuple[float, float], drop: tuple[float, float], **kw: Any) -> dict[str, Any]:
    return nash.package_body(pick, drop, **kw)


def test_nash_batch_types_and_seed_shape(client: TestClient) -> None:
    same_pick = [pkg((37.77, -122.41), (37.70 + i / 100, -122.45)) for i in range(3)]
    r = client.post("/v1/batch_job", json=nash.batch_job_body(same_pick), headers=NASH)
    assert r.status_code == 200, r.text
    job = r.json()
    assert conforms(seed("nash-batch-job.json"), job) == []
    b = job["batch"]
    assert b["type"] == "SINGLE_PICKUP_MULTIPLE_DROPOFFS"
    assert b["stopTypes"] == ["PICKUP", "DROPOFF", "DROPOFF", "DROPOFF"]
    assert job["id"].startswith("job_") and b["id"].startswith("bth_")
    assert all(c["id"].startswith("cfg_") for c in job["jobConfigurations"])
    assert b["objectSequence"] == [c["id"] for c in job["jobConfigurations"]]
    assert b["winnerQuote"]["id"] in {q["id"] for q in b["quotes"]}
    assert b["failedQuotes"] and b["failedQuotes"][0]["isSuccessful"] is False
    assert client.get(f"/v1/jobs/{job['id']}", headers=NASH).json() == job
    # Deterministic quotes: the same packages price the same.
    again = client.post("/v1/batch_job", json=nash.batch_job_body(same_pick), headers=NASH)
    assert [q["priceCents"] for q in again.json()["batch"]["quotes"]] == [
        q["priceCents"] for q in b["quotes"]
    ]
    same_drop = [pkg((37.70 + i / 100, -122.45), (37.77, -122.41)) for i in range(2)]
    j2 = client.post("/v1/batch_job", json={"packages": same_drop}, headers=NASH).json()
    assert j2["batch"]["type"] == "MULTIPLE_PICKUPS_SINGLE_DROPOFF"
    assert j2["batch"]["stopTypes"] == ["PICKUP", "PICKUP", "DROPOFF"]
    mixed = [
        pkg(
            (37.70 + i / 100, -122.45),
            (37.77, -122.41 + i / 100),
            pickup_phone=f"+1555555010{i}",
            dropoff_phone=f"+1555555020{i}",
        )
        for i in range(2)
    ]
    j3 = client.post("/v1/batch_job", json={"packages": mixed}, headers=NASH).json()
    assert j3["batch"]["type"] == "MULTIPLE_PICKUPS_MULTIPLE_DROPOFFS"
    assert j3["batch"]["stopTypes"] == ["PICKUP", "PICKUP", "DROPOFF", "DROPOFF"]


def test_nash_errors(client: TestClient) -> None:
    one = [pkg((37.77, -122.41), (37.7, -122.45))]
    r = client.post("/v1/batch_job", json={"packages": one}, headers=NASH)
    assert r.status_code == 422
    e = r.json()[0]
    assert e["response_status"] == "422 UNPROCESSABLE_ENTITY" and e["RequestID"]
    assert e["error"]["code"] == "VALIDATION_ERRORS" and "X-REQUEST-ID" in r.headers
    no_mode = [{k: v for k, v in p.items() if k != "packageDeliveryMode"} for p in one * 2]
    assert client.post("/v1/batch_job", json={"packages": no_mode}, headers=NASH).status_code == 422
    bad_phone = [pkg((37.77, -122.41), (37.7, -122.45), dropoff_phone="555")] * 2
    r = client.post("/v1/batch_job", json={"packages": bad_phone}, headers=NASH)
    assert r.json()[0]["error"]["code"] == "INVALID_PHONE_NUMBER"
    interleave = [
        {
            **pkg((37.70, -122.45), (37.77, -122.41), pickup_phone="+15555550111"),
            "packagePickupStartTime": "2030-01-01T10:00:00",
            "packageDropoffEndTime": "2030-01-01T11:00:00",
        },
        {
            **pkg(
                (37.71, -122.46),
                (37.78, -122.42),
                pickup_phone="+15555550112",
                dropoff_phone="+15555550113",
            ),
            "packagePickupStartTime": "2030-01-01T11:30:00",
            "packageDropoffEndTime": "2030-01-01T12:00:00",
        },
    ]
    r = client.post("/v1/batch_job", json={"packages": interleave}, headers=NASH)
    assert r.status_code == 422
    assert r.json()[0]["error"]["code"] == "INVALID_TIME_CONSTRAINT"
    ext = nash.batch_job_body([pkg((37.77, -122.41), (37.7, -122.45))] * 2, external_id="e-1")
    a = client.post("/v1/batch_job", json=ext, headers=NASH).json()
    b = client.post("/v1/batch_job", json=ext, headers=NASH).json()
    assert a["id"] == b["id"]


def wait_status(client: TestClient, bid: str, want: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        d = client.get(f"/api/batches/{bid}", headers=NASH).json()["data"]
        if d["status"] == want:
            return dict(d)
        time.sleep(0.01)
    raise AssertionError(f"batch {bid} never reached {want}: {d['status']}")


def test_deftship_lifecycle_and_paginator() -> None:
    with make_client(deftship_validate_s=0.05, deftship_ship_items_per_s=2000.0) as client:
        to = deftship.address("Ann", "1 Main St", "Austin", "78701", "TX")
        items = [deftship.shipment_body(to, reference=f"r{i}") for i in range(150)]
        r = client.post("/api/batches", json=deftship.batch_body(items), headers=NASH)
        assert r.status_code == 200
        data = r.json()["data"]
        assert data["status"] == "validating"
        bid = data["id"]
        early = client.put(
            f"/api/batches/{bid}/add-items", json={"batch_shipments": items[:1]}, headers=NASH
        )
        assert early.status_code == 409
        assert early.json() == {"success": False, "message": "Shipment batch is being processed."}
        ready = wait_status(client, bid, "ready")
        s = seed("deftship-get-batch.json")
        got = client.get(f"/api/batches/{bid}", headers=NASH).json()
        assert conforms(s["ready"], got) == []
        assert ready["results"]["valid_count"] == 150
        page = got["data"]["items"]
        assert page["per_page"] == 100 and page["from"] == 1 and page["to"] == 100
        assert page["next_page_url"] == page["path"] + "?page=2"
        assert page["prev_page_url"] is None and page["first_page_url"] == page["path"] + "?page=1"
        p2 = client.get(f"/api/batches/{bid}?page=2", headers=NASH).json()["data"]["items"]
        assert p2["from"] == 101 and p2["to"] == 150 and p2["next_page_url"] is None
        assert client.get(f"/api/batches/{bid}?page=x", headers=NASH).status_code == 422
        # Add an invalid item: back to validating, then invalid; ship is refused.
        bad = {"from_address_id": 1, "to_address": {"name": "X"}, "package_list": []}
        r = client.put(
            f"/api/batches/{bid}/add-items", json={"batch_shipments": [bad]}, headers=NASH
        )
        assert r.status_code == 200 and r.json()["data"]["status"] == "validating"
        wait_status(client, bid, "invalid")
        inv = client.get(f"/api/batches/{bid}?status=invalid", headers=NASH).json()["data"]
        bad_id = inv["items"]["data"][0]["id"]
        assert inv["items"]["data"][0]["errors"]
        r = client.post(f"/api/batches/{bid}/ship", headers=NASH)
        assert r.status_code == 422 and r.json()["data"]["invalid_order_ids"] == [bad_id]
        r = client.put(
            f"/api/batches/{bid}/remove-items", json={"batch_shipment_ids": [bad_id]}, headers=NASH
        )
        assert r.status_code == 200
        wait_status(client, bid, "ready")
        r = client.post(f"/api/batches/{bid}/ship", headers=NASH)
        assert r.status_code == 200 and r.json()["data"]["status"] == "processing"
        again = client.post(f"/api/batches/{bid}/ship", headers=NASH)
        assert again.json()["message"] in ("Batch is not ready to ship.",)
        done = wait_status(client, bid, "completed")
        assert done["results"]["completed_count"] == 150
        assert done["results"]["completion_percentage"] == "100%"
        assert len(done["labels"]) == 2
        full = client.get(f"/api/batches/{bid}", headers=NASH).json()
        assert conforms(s["processing"], full) == []
        assert full["data"]["items"]["data"][0]["shipment_order"]["main_tracking_number"]
        nf = client.get("/api/batches/00000000", headers=NASH)
        assert nf.status_code == 404 and nf.json() == s["not_found"]
        too_many = deftship.batch_body(items * 7)
        assert client.post("/api/batches", json=too_many, headers=NASH).status_code == 422


def test_deftship_item_failing_at_shipping() -> None:
    with make_client() as client:
        to = deftship.address("Ann", "1 Main St", "Austin", "78701", "TX")
        items = [
            deftship.shipment_body(to, reference="ok"),
            deftship.shipment_body(to, reference="FAIL-me"),
        ]
        bid = client.post("/api/batches", json=deftship.batch_body(items), headers=NASH).json()[
            "data"
        ]["id"]
        wait_status(client, bid, "ready")
        assert client.post(f"/api/batches/{bid}/ship", headers=NASH).status_code == 200
        done = wait_status(client, bid, "completed")
        assert done["results"]["completed_count"] == 1
        assert done["results"]["failed_count"] == 1
        failed = client.get(f"/api/batches/{bid}?status=failed", headers=NASH).json()
        assert failed["data"]["items"]["data"][0]["errors"]
        r = client.put(
            f"/api/batches/{bid}/add-items", json={"batch_shipments": items}, headers=NASH
        )
        assert r.status_code == 409


def test_hypertrack_lifecycle(client: TestClient) -> None:
    h = ht_auth()
    first = {
        **hypertrack.order_body("order-1", 37.39, -121.88, "pick", "1709 Automation Pkwy"),
        "scheduled_at": "2023-10-26T02:00:00.000Z",
        "metadata": {"customerID": "12654"},
    }
    body = hypertrack.track_body(
        "James",
        [
            first,
            hypertrack.order_body("order-2", 37.40, -121.89, "drop"),
        ],
    )
    body["ops_group_handle"] = "store-SF"
    r = client.post("/orders/track", json=body, headers=h)
    assert r.status_code == 200, r.text
    route = r.json()
    assert route["status"] == "tracking" and route["orders"][0]["status"] == "ongoing"
    dup = client.post("/orders/track", json=body, headers=h)
    assert dup.status_code == 409 and set(dup.json()) == {"detail", "message"}
    r = client.post("/orders/order-1/disable", json={}, headers=h)
    assert r.json()["status"] == "disabled" and r.json()["disabled_at"]
    assert client.post("/orders/order-1/disable", json={}, headers=h).status_code == 409
    r = client.post("/orders/order-1/enable", json={}, headers=h)
    assert r.json()["status"] == "ongoing"
    r = client.post("/orders/order-1/complete?type=drop", json={}, headers=h)
    assert r.status_code == 404
    r = client.post(
        "/orders/order-1/complete?type=pick&type_index=0&fulfillment_attempt=0",
        content=b"",
        headers=h,
    )
    assert r.status_code == 200
    order = client.get("/orders/order-1", headers=h).json()
    s = seed("hypertrack-complete-order.json")
    assert conforms(s["order"], order, nullable=frozenset({"plan_id", "start_location"})) == []
    assert order["status"] == "completed" and order["completed_at"]
    assert order["timeline"][-1]["type"] == "order_completed"
    kinds = [e["type"] for e in order["timeline"]]
    assert kinds[:3] == ["order_created", "order_assigned", "order_started"]
    assert "order_disabled" in kinds and "order_enabled" in kinds
    assert client.post("/orders/order-1/complete", json={}, headers=h).status_code == 409
    r = client.post("/orders/order-2/cancel", json={"metadata": {"why": "closed"}}, headers=h)
    assert r.json()["status"] == "cancelled" and r.json()["metadata"]["why"] == "closed"
    # A finished handle can be tracked again: the next fulfillment attempt.
    again = client.post(
        "/orders/track",
        json=hypertrack.track_body(
            "James", [hypertrack.order_body("order-1", 37.39, -121.88, "pick")]
        ),
        headers=h,
    )
    assert again.json()["orders"][0]["fulfillment_attempt"] == 1
    first = client.get("/orders/order-1?fulfillment_attempt=0", headers=h).json()
    assert first["status"] == "completed"
    bad = client.post("/orders/track", json={"worker_handle": "J", "orders": [{}]}, headers=h)
    assert bad.status_code == 422
    detail = bad.json()["detail"]
    assert "body" in detail and all(isinstance(v, list) for v in detail["body"].values())
    assert client.get("/orders/x?type_index=-3", headers=h).status_code in (404, 422)


def test_metrics_counts_everything() -> None:
    with make_client() as client:
        from tests.loadtest.emulator.helpers import onfleet_auth

        client.post(
            "/api/v2/tasks",
            json={"destination": {"location": [-122.4, 37.7]}},
            headers=onfleet_auth(),
        )
        client.get("/api/v2/tasks/nope", headers=onfleet_auth())
        text = client.get("/metrics").text
        assert 'route="/api/v2/tasks",method="POST",status="200"} 1' in text
        assert 'route="/api/v2/tasks/{taskId}",method="GET",status="404"} 1' in text
        assert 'fleetsim_emulator_tasks{provider="onfleet",state="0"} 1' in text
        assert "fleetsim_emulator_jobs" in text


def _pkg(**extra: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "packageDeliveryMode": "now",
        "pickupLatitude": 37.7,
        "pickupLongitude": -122.4,
        "dropoffAddress": "2 Elm St",
    }
    p.update(extra)
    return p


@pytest.mark.parametrize("value", [{"a": 1}, [1, 2], 5, True, 1.5])
@pytest.mark.parametrize("key", ["pickupAddress", "dropoffAddress"])
def test_nash_non_string_address_is_422(key: str, value: Any) -> None:
    pkg = _pkg(dropoffLatitude=37.8, dropoffLongitude=-122.3, **{key: value})
    with make_client() as client:
        r = client.post("/v1/batch_job", json={"packages": [pkg, pkg]}, headers=bearer())
    assert r.status_code == 422, r.text
    err = r.json()
    assert isinstance(err, list) and err[0]["error"]["code"] == "VALIDATION_ERRORS"
    assert key in err[0]["error"]["message"]
    assert err[0]["response_status"].startswith("422")


def test_nash_reviewer_repro_is_422() -> None:
    pkg = _pkg(pickupAddress={"a": 1})
    with make_client() as client:
        r = client.post("/v1/batch_job", json={"packages": [pkg, pkg]}, headers=bearer())
    assert r.status_code == 422 and r.json()[0]["error"]["code"] == "VALIDATION_ERRORS"
