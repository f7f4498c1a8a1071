"""HyperTrack's order lifecycle: POST /orders (planned, then assigned on the clock), the
driver app (start, positions: arrival, exit, risks; completion), GET /orders with filters
and pages, PATCH, custom events, an order's webhooks, the cap, and what a refusal leaves
(nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from loadtest.emulator.hypertrack.model import epoch_of, iso_ms
from loadtest.emulator.webhooks.payloads import HyperTrackEvent
from loadtest.providers import hypertrack as ht
from sim.geo import geodesic_m
from tests.loadtest.emulator.helpers import TestClient, ht_auth, make_client, onfleet_auth
from tests.loadtest.emulator.sinks import RecordingSink, sink_of
from tests.loadtest.emulator.test_nash_lifecycle import T0, ManualClock, wait_for

H = ht_auth()
DRIVER = onfleet_auth()
C = ht.CONTROL_PATH
DEST = (37.40, -121.90)  # (lat, lon) of the test orders' destinations
DEST_JSON = {"geometry": {"type": "Point", "coordinates": [DEST[1], DEST[0]]}}


@contextmanager
def ht_client(
    clock: ManualClock | None = None, **overrides: Any
) -> Iterator[tuple[TestClient, RecordingSink]]:
    with make_client(**overrides) as client:
        client.headers.update(H)
        if clock is not None:
            emu = client.app.state.emulator  # type: ignore[attr-defined]
            emu.rt.clock = clock
            emu.hypertrack.timer.clock = clock
        yield client, sink_of(client)


def orders(*handles: str, **extra: Any) -> list[dict[str, Any]]:
    out = []
    for i, h in enumerate(handles):
        body = ht.order_body(h, DEST[0] + i / 1000, DEST[1], radius_m=100)
        out.append({**body, **extra})
    return out


def plan(client: TestClient, worker: str, *handles: str, **extra: Any) -> dict[str, Any]:
    r = client.post("/orders", json={"worker_handle": worker, "orders": orders(*handles, **extra)})
    assert r.status_code == 200, r.text
    route: dict[str, Any] = r.json()
    return route


def order(client: TestClient, handle: str) -> dict[str, Any]:
    r = client.get(f"/orders/{handle}")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def move(client: TestClient, worker: str, lat: float, lon: float) -> dict[str, Any]:
    r = client.post(f"{C}/workers/{worker}/location", json={"location": [lon, lat]}, headers=DRIVER)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def values(sink: RecordingSink) -> list[tuple[str, list[str]]]:
    out = []
    for e in sink.events:
        evs = [HyperTrackEvent.model_validate(x) for x in e.body]
        out.append((e.name, [ev.data.order_handle for ev in evs]))
    return out


def ht_error(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"detail", "message"}
    return body


# -- planned, then assigned ---------------------------------------------------------------
def test_plan_answers_planned_and_the_timer_assigns() -> None:
    with ht_client(time_scale=1000.0) as (client, sink):
        route = plan(client, "James", "p-1", "p-2")
        assert route["status"] == "planned"
        assert [o["status"] for o in route["orders"]] == ["planned", "planned"]
        first = route["orders"][0]
        assert [t["type"] for t in first["timeline"]] == ["order_created", "order_planned"]
        assert first["assigned_at"] is None and first["started_at"] is None
        ht.RouteOut.model_validate(route)
        # No reads: only the timer can emit the assignment.
        wait_for(lambda: sink.names() == ["assigned"])
        assert values(sink) == [("assigned", ["p-1", "p-2"])]
        o = order(client, "p-1")
    assert o["status"] == "assigned" and o["assigned_at"] is not None
    assert o["timeline"][-1]["type"] == "order_assigned"


def test_driver_app_drives_ongoing_arrival_risks_and_completion() -> None:
    clock = ManualClock()
    with ht_client(clock) as (client, sink):
        delay = client.app.state.emulator.rt.config.ht_assign_delay_s  # type: ignore[attr-defined]
        route = plan(client, "James", "d-1")
        rh = route["route_handle"]
        # Still planned: the driver cannot start it yet (and the refusal changes nothing).
        r = client.post(f"{C}/routes/{rh}/start", headers=DRIVER)
        assert r.status_code == 409, r.text
        assert order(client, "d-1")["status"] == "planned" and sink.events == []
        clock.t += delay
        assert order(client, "d-1")["status"] == "assigned"  # a read applies what is due
        r = client.post(f"{C}/routes/{rh}/start", headers=DRIVER)
        assert r.status_code == 200, r.text
        assert r.json()["orders"][0]["status"] == "ongoing"
        far = (DEST[0] + 0.05, DEST[1])
        move(client, "James", *far)
        clock.t += 60
        # 2 km farther away: moving away (yellow), the risk is up.
        moved = move(client, "James", far[0] + 0.02, far[1])
        o = moved["orders"][0]
        assert o["risks"]["moving_away_from_destination"] == "yellow" and o["risk_status"] is True
        clock.t += 60
        # Inside the 100 m geofence: arrived, and no longer moving away.
        o = move(client, "James", DEST[0] + 0.0003, DEST[1])["orders"][0]
        assert geodesic_m(DEST[0] + 0.0003, DEST[1], *DEST) < 100
        assert o["visited_destination"] is True and o["arrived_at"] is not None
        assert o["risks"]["moving_away_from_destination"] == "green" and o["risk_status"] is False
        clock.t += 300
        r = client.post(f"{C}/orders/d-1/complete", json={}, headers=DRIVER)
        assert r.status_code == 200, r.text
        done = r.json()
        again = client.post(f"{C}/orders/d-1/complete", json={}, headers=DRIVER)
        assert again.status_code == 409
    assert done["status"] == "completed" and done["completed_at_destination"] is True
    assert done["actual_service_time"] == 300
    assert [t["type"] for t in done["timeline"]] == [
        "order_created",
        "order_planned",
        "order_assigned",
        "order_started",
        "order_risk_updated",
        "order_arrived",
        "order_risk_updated",
        "order_completed",
    ]
    assert [n for n, _ in values(sink)] == [
        "assigned",
        "started",
        "risk_updated",
        "arrived",
        "risk_updated",
        "completed",
    ]
    for e in sink.events:
        assert e.subject == rh
        for ev in e.body:
            assert ev["account_id"] == "acct-1" and ev["worker_handle"] == "James"


def test_leaving_the_geofence_is_an_exit() -> None:
    clock = ManualClock()
    with ht_client(clock, ht_assign_delay_s=0.0) as (client, sink):
        rh = plan(client, "Ann", "x-1")["route_handle"]
        assert client.post(f"{C}/routes/{rh}/start", headers=DRIVER).status_code == 200
        move(client, "Ann", *DEST)
        o = move(client, "Ann", DEST[0] + 0.0005, DEST[1])["orders"][0]
        assert o["exited_at"] is None  # 55 m: still inside
        o = move(client, "Ann", DEST[0] + 0.01, DEST[1])["orders"][0]
        assert o["exited_at"] is not None
        r = client.post("/orders/x-1/complete", json={})
        assert r.json()["completed_at_destination"] is False
    assert "exited" in sink.names()


def test_scheduled_at_passing_turns_the_delay_risk_red() -> None:
    clock = ManualClock()
    when = iso_ms(T0 + 1800.0)
    with ht_client(clock) as (client, sink):
        plan(client, "Bo", "s-1", "s-2", scheduled_at=when)
        assert client.post("/orders/s-2/complete", json={}).status_code == 200
        clock.t = T0 + 1799.0
        early = order(client, "s-1")
        clock.t = T0 + 1801.0
        late = order(client, "s-1")
        done = order(client, "s-2")
    assert early["risks"]["delayed_from_scheduled_at"] == "green"
    assert late["risks"]["delayed_from_scheduled_at"] == "red" and late["risk_status"] is True
    assert done["risks"]["delayed_from_scheduled_at"] == "green"
    risk = [e for e in sink.events if e.name == "risk_updated"]
    assert len(risk) == 1 and risk[0].body[0]["data"]["order_handle"] == "s-1"
    assert risk[0].body[0]["recorded_at"] == when


# -- GET /orders ---------------------------------------------------------------------------
def test_list_filters_and_pages() -> None:
    with ht_client(ManualClock(), ht_assign_delay_s=0.0) as (client, _):
        plan(client, "A", "l-1", "l-2", "l-3")
        plan(client, "B", "l-4", "l-5")
        body = ht.track_body("C", orders("l-6", "l-7"))
        assert client.post("/orders/track", json=body).status_code == 200
        assert client.post("/orders/l-2/complete", json={}).status_code == 200
        assert client.post("/orders/l-6/cancel", json={}).status_code == 200
        seen: list[str] = []
        token = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 3}
            if token:
                params["pagination_token"] = token
            r = client.get("/orders", params=params)
            assert r.status_code == 200, r.text
            page = ht.OrderPage.model_validate(r.json())
            seen += [o.order_handle for o in page.orders]
            pages += 1
            token = page.pagination_token
            if token is None:
                break
        assert seen == [f"l-{i}" for i in range(1, 8)] and pages == 3

        def handles(**params: Any) -> list[str]:
            r = client.get("/orders", params=params)
            assert r.status_code == 200, r.text
            return [o["order_handle"] for o in r.json()["orders"]]

        assert handles(status="completed,cancelled") == ["l-2", "l-6"]
        assert handles(status=["assigned", "completed"]) == ["l-1", "l-2", "l-3", "l-4", "l-5"]
        assert handles(status="ongoing") == ["l-7"]
        assert handles(worker_handle="B") == ["l-4", "l-5"]
        assert handles(worker_handle="A", status="assigned") == ["l-1", "l-3"]
        d = ht_error(client.get("/orders", params={"status": "lost"}), 422)
        assert "status" in d["detail"]["query"]
        ht_error(client.get("/orders", params={"limit": ht.MAX_PAGE + 1}), 422)
        ht_error(client.get("/orders", params={"limit": 0}), 422)
        ht_error(client.get("/orders", params={"pagination_token": "garbage!"}), 422)


# -- PATCH, events, webhooks ---------------------------------------------------------------
def test_patch_updates_an_order_and_refuses_bad_fields_without_change() -> None:
    with ht_client(ManualClock()) as (client, sink):
        plan(client, "P", "u-1")
        before = order(client, "u-1")
        d = ht_error(
            client.patch("/orders/u-1", json={"destination": {**DEST_JSON, "radius": -1}}), 422
        )
        assert list(d["detail"]["body"]) == ["destination.radius"]
        ht_error(client.patch("/orders/u-1", json={"colour": "red"}), 422)
        ht_error(client.patch("/orders/u-1", json={"scheduled_at": "soon"}), 422)
        ht_error(client.patch("/orders/u-1", json={}), 422)
        assert order(client, "u-1") == before and sink.events == []
        new_dest = {"geometry": {"type": "Point", "coordinates": [-121.8, 37.5]}, "radius": 50}
        r = client.patch(
            "/orders/u-1",
            json={"destination": new_dest, "metadata": {"gate": 4}, "expected_service_time": 90},
        )
        assert r.status_code == 200, r.text
        o = r.json()
        assert o["destination"]["geometry"]["coordinates"] == [-121.8, 37.5]
        assert o["destination"]["radius"] == 50
        assert o["metadata"] == {"gate": 4} and o["expected_service_time"] == 90
        assert o["timeline"][-1]["type"] == "order_updated"
        assert sink.names() == ["updated"]
        assert client.post("/orders/u-1/cancel", json={}).status_code == 200
        ht_error(client.patch("/orders/u-1", json={"metadata": {}}), 409)
        ht_error(client.patch("/orders/nope", json={"metadata": {}}), 404)


def test_custom_events_and_an_orders_webhooks_without_any_subscriber() -> None:
    with make_client(ht_assign_delay_s=0.0) as client:
        client.headers.update(H)
        route = plan(client, "W", "w-1")
        r = client.post("/orders/w-1/events", json={"type": "door_photo", "metadata": {"n": 1}})
        assert r.status_code == 200 and r.json() is None
        assert order(client, "w-1")["timeline"][-1]["type"] == "door_photo"
        ht_error(client.post("/orders/w-1/events", json={"metadata": {}}), 422)
        ht_error(client.post("/orders/w-1/events", json={"type": "x" * 65}), 422)
        ht_error(client.post("/orders/nope/events", json={"type": "a"}), 404)
        assert (
            client.post(f"{C}/routes/{route['route_handle']}/start", headers=DRIVER).status_code
            == 200
        )
        assert client.post("/orders/w-1/complete", json={}).status_code == 200
        r = client.get("/orders/w-1/webhooks", params={"limit": 2})
        assert r.status_code == 200, r.text
        first = ht.WebhookPage.model_validate(r.json())
        assert first.pagination_token is not None
        r = client.get(
            "/orders/w-1/webhooks", params={"limit": 2, "pagination_token": first.pagination_token}
        )
        rest = ht.WebhookPage.model_validate(r.json())
    hooks = [HyperTrackEvent.model_validate(h) for h in (*first.webhooks, *rest.webhooks)]
    assert [(h.data.value, h.data.status) for h in hooks] == [
        ("assigned", "assigned"),
        ("started", "ongoing"),
        ("completed", "completed"),
    ]
    assert rest.pagination_token is None
    assert all(h.account_id == "acct-1" for h in hooks)


# -- caps, refusals ------------------------------------------------------------------------
def test_plan_caps_and_refusals_leave_nothing() -> None:
    with ht_client(ManualClock()) as (client, sink):
        emu = client.app.state.emulator  # type: ignore[attr-defined]
        many = [f"c-{i}" for i in range(ht.MAX_ORDERS_PER_TRACK + 1)]
        r = client.post("/orders", json={"worker_handle": "Z", "orders": orders(*many)})
        d = ht_error(r, 422)
        assert "orders" in d["detail"]["body"]
        assert str(ht.MAX_ORDERS_PER_TRACK) in d["detail"]["body"]["orders"][0]
        ht_error(client.post("/orders", json={"orders": orders("c-1")}), 422)  # no worker
        plan(client, "Z", "dup")
        n = len(emu.hypertrack.in_order)
        ht_error(
            client.post("/orders", json={"worker_handle": "Z", "orders": orders("c-2", "dup")}), 409
        )
        bad = orders("c-3", "c-4")
        bad[1]["destination"] = {"geometry": {"type": "Point", "coordinates": [500, 0]}}
        d = ht_error(client.post("/orders", json={"worker_handle": "Z", "orders": bad}), 422)
        assert "orders.1.destination.geometry" in d["detail"]["body"]
        assert len(emu.hypertrack.in_order) == n and "c-2" not in emu.hypertrack.orders
        assert sink.events == [] and len(emu.hypertrack.timer) == 1
        # At the cap: accepted.
        ok = [f"k-{i}" for i in range(ht.MAX_ORDERS_PER_TRACK)]
        assert (
            client.post("/orders", json={"worker_handle": "Z", "orders": orders(*ok)}).status_code
            == 200
        )


def test_driver_routes_answer_in_the_driver_apps_shape() -> None:
    with ht_client(ManualClock()) as (client, _):
        r = client.post(f"{C}/workers/W/location", json={"location": [0]}, headers=DRIVER)
        assert r.status_code == 400 and r.json()["code"] == "InvalidContent"
        r = client.post(f"{C}/routes/nope/start", headers=DRIVER)
        assert r.status_code == 404
        r = client.post(f"{C}/routes/nope/start", headers=H)  # HyperTrack's key is not the driver's
        assert r.status_code == 401


def test_a_restart_assigns_a_planned_route(tmp_path: Path) -> None:
    db = tmp_path / "emu.db"
    with ht_client(db_path=db, ht_assign_delay_s=3600.0) as (client, _):
        route = plan(client, "R", "r-1")
    planned_at = epoch_of(route["orders"][0]["planned_at"])
    with ht_client(db_path=db, ht_assign_delay_s=3600.0) as (client, sink):
        emu = client.app.state.emulator  # type: ignore[attr-defined]
        # The restart put the plan back on the timer, due when it was before.
        assert emu.hypertrack.timer.due(f"plan:{route['route_handle']}") == planned_at + 3600.0
        clock = ManualClock(planned_at + 3601.0)
        emu.rt.clock = emu.hypertrack.timer.clock = clock
        o = order(client, "r-1")
    assert o["status"] == "assigned" and o["timeline"][-1]["type"] == "order_assigned"
    assert sink.names() == ["assigned"]


def test_schema_lists_every_route_with_its_answer_model() -> None:
    from starlette.routing import Route

    from loadtest.emulator.hypertrack.schema import OPERATIONS, RESPONSES

    with ht_client(ManualClock()) as (client, _):
        emu = client.app.state.emulator  # type: ignore[attr-defined]
        served = {
            (m.lower(), r.path)
            for r in emu.hypertrack.routes()
            if isinstance(r, Route)
            for m in (r.methods or ())
            if m != "HEAD"
        }
    events = ("post", f"{ht.BASE_PATH}/{{handle}}/events")  # answers null: no model
    assert served == set(RESPONSES) | {events}
    assert {(op[0], op[1]) for op in OPERATIONS} <= served


def test_a_real_receiver_gets_the_plans_events_in_order() -> None:
    from loadtest.emulator.config import WebhookConfig
    from tests.loadtest.emulator.webhook_helpers import Receiver, wait_until

    with Receiver() as receiver:
        cfg = WebhookConfig(endpoints=(f"hypertrack={receiver.url}",))
        with make_client(webhooks=cfg, time_scale=1000.0) as client:
            client.headers.update(H)
            rh = plan(client, "E", "e-1", "e-2")["route_handle"]
            wait_until(lambda: len(receiver.delivered()) == 1)  # assigned, by the timer
            assert client.post(f"{C}/routes/{rh}/start", headers=DRIVER).status_code == 200
            move(client, "E", *DEST)
            assert (
                client.post(f"{C}/orders/e-1/complete", json={}, headers=DRIVER).status_code == 200
            )
            wait_until(lambda: len(receiver.delivered()) == 4)
        arrays = [orjson.loads(r.body) for r in receiver.delivered()]
    assert [[(e["data"]["value"], e["data"]["order_handle"]) for e in a] for a in arrays] == [
        [("assigned", "e-1"), ("assigned", "e-2")],
        [("started", "e-1"), ("started", "e-2")],
        [("arrived", "e-1")],
        [("completed", "e-1")],
    ]


def test_an_order_field_of_the_wrong_type_is_refused_not_read_as_its_default() -> None:
    """null stands for the default service time; false, "", [] and {} are not numbers."""
    with ht_client(ManualClock()) as (client, _):
        for k, bad in enumerate((False, "", [], {}, -1, 1.5)):
            body = orders(f"w-{k}", expected_service_time=bad)
            r = client.post("/orders", json={"worker_handle": "Z", "orders": body})
            d = ht_error(r, 422)
            assert "orders.0.expected_service_time" in d["detail"]["body"], (bad, d)
        planned = plan(client, "Z", "n-1", expected_service_time=None)
        assert planned
        assert order(client, "n-1")["expected_service_time"] == 0
