"""Nash and HyperTrack state emit their webhook events: Nash's ``delivery.created`` once
per new job, HyperTrack's arrays of order events, one delivery per value per call."""

from __future__ import annotations

from datetime import datetime

from loadtest.emulator.webhooks.payloads import HyperTrackEvent, NashEvent
from loadtest.providers import hypertrack, nash
from tests.loadtest.emulator.helpers import bearer, ht_auth
from tests.loadtest.emulator.sinks import RecordingSink, recording_client

NASH = bearer()
HT = ht_auth()  # AccountID "acct-1"


def nash_job(external_id: str | None = None) -> dict[str, object]:
    pkgs = [nash.package_body((37.77, -122.41), (37.70 + i / 100, -122.45)) for i in range(2)]
    return nash.batch_job_body(pkgs, external_id=external_id)


def test_nash_job_fires_delivery_created_once_and_not_on_replay() -> None:
    with recording_client() as (client, sink):
        r = client.post("/v1/batch_job", json=nash_job("ext-1"), headers=NASH)
        assert r.status_code == 200, r.text
        job = r.json()
        again = client.post("/v1/batch_job", json=nash_job("ext-1"), headers=NASH)
        assert again.status_code == 200 and again.json()["id"] == job["id"]
        bad = client.post("/v1/batch_job", json={"packages": []}, headers=NASH)
        assert bad.status_code == 422
    (e,) = sink.events
    assert (e.provider, e.name, e.subject) == ("nash", "delivery.created", job["id"])
    NashEvent.model_validate(e.body)
    assert e.body == {"type": "delivery", "event": "created", "data": job}
    assert e.measure is None


def check_array(body: object, value: str, handles: list[str]) -> list[HyperTrackEvent]:
    assert isinstance(body, list)
    events = [HyperTrackEvent.model_validate(x) for x in body]
    assert [ev.data.order_handle for ev in events] == handles
    for ev in events:
        assert ev.type == "order" and ev.data.value == value
        assert ev.account_id == "acct-1" and ev.worker_handle == "James"
        assert ev.recorded_at.endswith("Z") and datetime.fromisoformat(ev.recorded_at)
    return events


def test_hypertrack_track_complete_cancel_disable_enable_arrays() -> None:
    orders = [
        hypertrack.order_body("o-1", 37.39, -121.88, "drop"),
        hypertrack.order_body("o-2", 37.40, -121.89, "drop"),
        hypertrack.order_body("o-3", 37.41, -121.90, "drop"),
    ]
    with recording_client() as (client, sink):
        r = client.post("/orders/track", json=hypertrack.track_body("James", orders), headers=HT)
        assert r.status_code == 200, r.text
        route = r.json()
        # Track: two deliveries (assigned, then started), each with all three orders.
        assert [(e.name, e.subject) for e in sink.events] == [
            ("assigned", route["route_handle"]),
            ("started", route["route_handle"]),
        ]
        for e, value in zip(sink.events, ("assigned", "started"), strict=True):
            assert e.provider == "hypertrack"
            evs = check_array(e.body, value, ["o-1", "o-2", "o-3"])
            for ev, order in zip(evs, route["orders"], strict=True):
                assert ev.data.status == "ongoing"
                assert ev.data.route_handle == route["route_handle"]
                assert ev.device_id == order["device_id"]
                assert ev.data.share_url == order["share_url"]
        sink.clear()
        steps = [
            ("o-1", "complete", "completed", "completed"),
            ("o-2", "cancel", "cancelled", "cancelled"),
            ("o-3", "disable", "disabled", "disabled"),
            ("o-3", "enable", "enabled", "ongoing"),
        ]
        for handle, action, _, _ in steps:
            r = client.post(f"/orders/{handle}/{action}", json={}, headers=HT)
            assert r.status_code == 200, r.text
        # Refused transitions emit nothing.
        assert client.post("/orders/o-1/cancel", json={}, headers=HT).status_code == 409
        assert client.post("/orders/nope/complete", json={}, headers=HT).status_code == 404
    # Every event of the route travels in one lane (the route handle), so an order's
    # completed never overtakes its started while that one is being retried.
    rh = route["route_handle"]
    assert [(e.name, e.subject) for e in sink.events] == [(v, rh) for _, _, v, _ in steps]
    for e, (handle, _, value, status) in zip(sink.events, steps, strict=True):
        (ev,) = check_array(e.body, value, [handle])
        assert ev.data.status == status and ev.data.order_handle == handle


def test_unwanted_values_are_not_built() -> None:
    with recording_client() as (client, _):
        sink = RecordingSink(wanted={"completed"})
        client.app.state.emulator.rt.events = sink  # type: ignore[attr-defined]
        body = hypertrack.track_body("James", [hypertrack.order_body("o-9", 37.4, -121.9, "drop")])
        assert client.post("/orders/track", json=body, headers=HT).status_code == 200
        assert client.post("/orders/o-9/complete", json={}, headers=HT).status_code == 200
    assert [e.name for e in sink.events] == ["completed"]
    assert sink.asked["assigned"] == 1 and sink.asked["started"] == 1
