"""The emulator's performance structures keep the answers they replace: autoAssign's
incremental routes equal a full recomputation (:func:`sim.dispatch.route_length_m`) after
every kind of change to a worker's route."""

from __future__ import annotations

from typing import Any

from loadtest.emulator.onfleet.state import OnfleetState
from sim.dispatch import route_length_m
from tests.loadtest.emulator.helpers import make_client, onfleet_auth

A = "/api/v2"
C = "/emulator/v1"


def _full(st: OnfleetState) -> dict[str, tuple[float, float, float, float]]:
    """Each on-duty worker's (route length, end lat, end lon, load), summed from scratch."""
    out = {}
    for w in st.workers.values():
        if not w.on_duty or w.location is None:
            continue
        lon, lat = w.location
        legs = ([w.active_task] if w.active_task else []) + w.tasks
        stops = [st.tasks[t] for t in legs if t in st.tasks]
        m, e_lat, e_lon = route_length_m(lat, lon, [(t.lat, t.lon) for t in stops])
        out[w.id] = (m, e_lat, e_lon, sum(t.quantity for t in stops))
    return out


def _incremental(st: OnfleetState) -> dict[str, tuple[float, float, float, float]]:
    out = {}
    for v in st.worker_views():
        w = st.workers[str(v.id)]
        load = 0.0 if w.capacity is None else w.capacity - v.free_capacity
        assert v.end_lat is not None and v.end_lon is not None
        out[w.id] = (v.route_m, v.end_lat, v.end_lon, load)
    return out


def test_incremental_routes_equal_a_full_recomputation() -> None:
    with make_client() as client:
        client.headers.update(onfleet_auth())
        st: OnfleetState = client.app.state.emulator.onfleet.state  # type: ignore[attr-defined]
        team = client.post(f"{A}/teams", json={"name": "T"}).json()["id"]
        wids = []
        for i in range(3):
            body = {"name": f"W{i}", "phone": f"+1415555030{i}", "teams": [team], "capacity": 99}
            wid = client.post(f"{A}/workers", json=body).json()["id"]
            loc = [-122.40 - 0.02 * i, 37.77 + 0.01 * i]
            client.post(f"{C}/workers/{wid}/duty", json={"onDuty": True, "location": loc})
            wids.append(wid)

        def create(k: int) -> dict[str, Any]:
            body = {
                "destination": {"location": [-122.41 + 0.007 * k, 37.74 + 0.003 * (k % 7)]},
                "autoAssign": {"mode": "load"},
                "quantity": 1 + k % 3,
            }
            r = client.post(f"{A}/tasks", json=body)
            assert r.status_code == 200 and r.json()["didAutoAssign"] is True, r.text
            return dict(r.json())

        def check() -> None:
            assert _incremental(st) == _full(st)

        made = [create(k) for k in range(12)]
        check()
        # A container PUT that reorders a worker's list (same length): recomputed.
        w0 = st.workers[wids[0]]
        assert len(w0.tasks) >= 2
        r = client.put(f"{A}/containers/workers/{w0.id}", json={"tasks": w0.tasks[::-1]})
        assert r.status_code == 200, r.text
        check()
        # Moving a task's destination and quantity (same list): recomputed.
        tid = st.workers[wids[1]].tasks[0] if st.workers[wids[1]].tasks else made[0]["id"]
        body = {"destination": {"location": [-122.30, 37.90]}, "quantity": 7}
        assert client.put(f"{A}/tasks/{tid}", json=body).status_code == 200
        check()
        # Starting a task (the list shrinks, an active task appears), moving the worker.
        started = st.tasks[next(t for w in st.workers.values() for t in w.tasks)]
        assert client.post(f"{C}/tasks/{started.id}/start").status_code == 200
        check()
        wid = started.worker
        client.post(f"{C}/workers/{wid}/location", json={"location": [-122.45, 37.70]})
        check()
        # Deleting an assigned task, then appending more.
        victim = next(t for w in st.workers.values() for t in w.tasks)
        assert client.delete(f"{A}/tasks/{victim}").status_code == 200
        check()
        for k in range(12, 20):
            create(k)
            check()


def test_compact_destinations_serve_the_same_json_as_dict_ones() -> None:
    """An inline destination is stored as a compact record; its JSON (in the task, at
    GET /destinations/{id}, for a task naming it by id, in the metadata match) is exactly the
    dict :meth:`OnfleetState.new_destination` builds."""
    with make_client() as client:
        client.headers.update(onfleet_auth())
        st: OnfleetState = client.app.state.emulator.onfleet.state  # type: ignore[attr-defined]
        bodies = [
            {"destination": {"location": [-122.41, 37.77], "notes": "gate 4"}},
            {"destination": {"address": {"unparsed": "Market St, San Francisco, CA"}}},
            {"destination": {"address": {"number": "1", "street": "Main", "city": "SF"}}},
        ]
        for body in bodies:
            got = client.post(f"{A}/tasks", json=body)
            assert got.status_code == 200, got.text
            task = got.json()
            dest = task["destination"]
            lon, lat = dest["location"]
            stored = st.tasks[task["id"]].destination
            addr = (
                None
                if "address" not in body["destination"]
                else (dest["address"], not dest["warnings"])
            )
            want, warned = st.new_destination(
                dest["id"], dest["timeCreated"], lat, lon, addr, dest["notes"]
            )
            assert dest == want and warned == bool(dest["warnings"])
            assert stored["id"] == dest["id"] and stored["location"] == [lon, lat]
            assert client.get(f"{A}/destinations/{dest['id']}").json() == dest
            again = client.post(f"{A}/tasks", json={"destination": dest["id"]}).json()
            assert again["destination"] == dest
        assert any(d["warnings"] for d in st.all_destinations())


def test_shared_recipient_lists_and_empty_lists_stay_per_task() -> None:
    """Tasks naming one recipient share its list in memory; changing one task's recipients,
    dependencies or metadata leaves the others as they were."""
    with make_client() as client:
        client.headers.update(onfleet_auth())
        ann = {"name": "Ann", "phone": "4155550100"}
        body = {"destination": {"location": [-122.41, 37.77]}, "recipients": [ann]}
        got = client.post(f"{A}/tasks/batch", json={"tasks": [body, body, body]}).json()
        a, b, c = (t["id"] for t in got["tasks"])
        rid = got["tasks"][0]["recipients"][0]["id"]
        assert {t["recipients"][0]["id"] for t in got["tasks"]} == {rid}
        bob = {"name": "Bob", "phone": "4155550199"}
        assert client.put(f"{A}/tasks/{b}", json={"recipients": [bob]}).status_code == 200
        change = {"dependencies": [a], "metadata": [{"name": "k", "type": "string", "value": "v"}]}
        assert client.put(f"{A}/tasks/{c}", json=change).status_code == 200
        ta, tb, tc = (client.get(f"{A}/tasks/{t}").json() for t in (a, b, c))
        assert [r["id"] for r in ta["recipients"]] == [rid]
        assert tb["recipients"][0]["name"] == "Bob" and tb["recipients"][0]["id"] != rid
        assert ta["dependencies"] == [] and ta["metadata"] == []
        assert tc["dependencies"] == [a] and tc["metadata"][0]["value"] == "v"
        # A later task for Ann still names her (one record, phone de-duplicated).
        again = client.post(f"{A}/tasks", json=body).json()
        assert [r["id"] for r in again["recipients"]] == [rid]
