"""Durability: with ``--db``, a real ``kill -9`` of ``fleetsim emulate`` and a restart lose
nothing that was acknowledged.  Also the server over real loopback sockets."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from loadtest.emulator.serve import EmulatorProcess
from loadtest.providers import deftship, hypertrack, nash
from tests.loadtest.emulator.helpers import KEY, bearer, ht_auth, onfleet_auth

pytestmark = pytest.mark.timeout(120)


def _burst(url: str, acked: list[str], stop: threading.Event) -> None:
    with httpx.Client(base_url=url, headers=onfleet_auth(), timeout=5) as c:
        i = 0
        while not stop.is_set() and i < 5000:
            i += 1
            body = {"destination": {"location": [-122.4, 37.7]}, "notes": f"burst {i}"}
            try:
                if i % 10 == 0:
                    r = c.post("/api/v2/tasks/batch", json={"tasks": [body] * 20})
                    if r.status_code == 200:
                        acked.extend(t["id"] for t in r.json()["tasks"])
                    continue
                r = c.post("/api/v2/tasks", json=body)
            except httpx.HTTPError:
                return
            if r.status_code == 200:
                acked.append(r.json()["id"])


def test_kill9_and_restart_lose_nothing_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "emu.db"
    args = ("--db", str(db), "--api-key", KEY, "--seed", "7")
    closer: list[httpx.Client] = []
    p = EmulatorProcess(*args)
    try:
        c = httpx.Client(base_url=p.url, timeout=10)
        closer.append(c)
        o = onfleet_auth()
        team = c.post("/api/v2/teams", json={"name": "T"}, headers=o).json()["id"]
        w = c.post(
            "/api/v2/workers", json={"name": "W", "phone": "4155550100", "teams": [team]}, headers=o
        ).json()["id"]
        c.post(
            f"/emulator/v1/workers/{w}/duty",
            json={"onDuty": True, "location": [-122.4, 37.7]},
            headers=o,
        )
        assigned = c.post(
            "/api/v2/tasks",
            json={"destination": {"location": [-122.4, 37.7]}, "autoAssign": {"mode": "distance"}},
            headers=o,
        ).json()
        assert assigned["worker"] == w
        c.post(f"/emulator/v1/tasks/{assigned['id']}/start", headers=o)
        c.post(
            f"/api/v2/tasks/{assigned['id']}/complete",
            json={"completionDetails": {"success": True}},
            headers=o,
        )
        job = c.post(
            "/api/v2/tasks/batch-async",
            json={"tasks": [{"destination": {"location": [-122.4, 37.7]}}] * 30},
            headers=o,
        ).json()
        for _ in range(200):
            if (
                c.get(f"/api/v2/tasks/batch/{job['jobId']}", headers=o)
                .json()["status"]
                .startswith("completed")
            ):
                break
            time.sleep(0.02)
        njob = c.post(
            "/v1/batch_job",
            json={"packages": [nash.package_body((37.77, -122.41), (37.7, -122.45))] * 2},
            headers=bearer(),
        ).json()
        to = deftship.address("Ann", "1 Main St", "Austin", "78701", "TX")
        dbatch = c.post(
            "/api/batches",
            json=deftship.batch_body([deftship.shipment_body(to)] * 3),
            headers=bearer(),
        ).json()["data"]["id"]
        c.post(
            "/orders/track",
            json=hypertrack.track_body("J", [hypertrack.order_body("o-1", 37.4, -121.9)]),
            headers=ht_auth(),
        )
        c.post("/orders/o-1/complete", json={}, headers=ht_auth())
        acked: list[str] = []
        stop = threading.Event()
        th = threading.Thread(target=_burst, args=(p.url, acked, stop))
        th.start()
        time.sleep(0.8)
        p.kill()  # mid-burst: some requests are in flight
        stop.set()
        th.join(10)
        assert len(acked) > 20
    finally:
        p.stop()
        closer.pop().close()
    # The file is plain SQLite, inspectable with sqlite3.
    con = sqlite3.connect(db)
    kinds = dict(con.execute("select kind, count(*) from records group by kind").fetchall())
    con.close()
    assert kinds["task"] >= len(acked)
    q = EmulatorProcess(*args)
    try:
        c = httpx.Client(base_url=q.url, timeout=10)
        closer.append(c)
        o = onfleet_auth()
        for tid in acked:
            assert c.get(f"/api/v2/tasks/{tid}", headers=o).status_code == 200, tid
        done = c.get(f"/api/v2/tasks/{assigned['id']}", headers=o).json()
        assert done["state"] == 3 and done["completionDetails"]["success"] is True
        status = c.get(f"/api/v2/tasks/batch/{job['jobId']}", headers=o).json()
        assert status["status"] == "completed" and status["tasksCreated"] == 30
        assert c.get(f"/api/v2/workers/{w}", headers=o).json()["onDuty"] is True
        assert c.get(f"/v1/jobs/{njob['id']}", headers=bearer()).status_code == 200
        assert c.get(f"/api/batches/{dbatch}", headers=bearer()).json()["success"] is True
        order = c.get("/orders/o-1", headers=ht_auth()).json()
        assert order["status"] == "completed"
        listed: set[str] = set()
        last = None
        while True:
            page = c.get(
                "/api/v2/tasks/all?from=0" + (f"&lastId={last}" if last else ""), headers=o
            ).json()
            ids = [t["id"] for t in page["tasks"]]
            assert not listed & set(ids)
            listed |= set(ids)
            last = page.get("lastId")
            if not last:
                break
        assert set(acked) <= listed
        # New ids after the restart never collide with the old ones.
        fresh = c.post(
            "/api/v2/tasks/batch",
            json={"tasks": [{"destination": {"location": [-122.4, 37.7]}}] * 50},
            headers=o,
        ).json()["tasks"]
        assert not {t["id"] for t in fresh} & listed
        assert len({t["shortId"] for t in fresh}) == 50
    finally:
        q.stop()
        closer.pop().close()


def test_loopback_server_answers_and_prints_demo_key() -> None:
    p = EmulatorProcess()
    try:
        from loadtest.emulator.config import DEMO_API_KEY

        r = httpx.get(p.url + "/api/v2/auth/test", headers=onfleet_auth(DEMO_API_KEY))
        assert r.status_code == 200 and "X-RateLimit-Remaining" in r.headers
        assert httpx.get(p.url + "/openapi.json").json()["openapi"].startswith("3.")
    finally:
        err = p.stop()
    assert DEMO_API_KEY in err


def test_keys_from_environment_are_never_logged() -> None:
    secret = "env-secret-key-42"
    p = EmulatorProcess(env={"FLEETSIM_API_KEYS": f"{secret},other-key-123"})
    try:
        ok = httpx.get(p.url + "/api/v2/auth/test", headers=onfleet_auth(secret))
        assert ok.status_code == 200
        bad = httpx.get(p.url + "/api/v2/auth/test", headers=onfleet_auth("nope-nope-nope"))
        assert bad.status_code == 401
    finally:
        err = p.stop()
    assert secret not in err and "1 configured" not in err


def test_realistic_latency_never_blocks_other_requests(tmp_path: Path) -> None:
    prof = tmp_path / "slow.toml"
    prof.write_text(
        'profile = "realistic"\n[faults]\nerror_rate = 0.0\nslow_rate = 0.0\n'
        "[latency.default]\nmedian_ms = 200.0\np99_ms = 300.0\n"
    )
    p = EmulatorProcess("--profile", str(prof), "--api-key", KEY, "--seed", "3")
    try:

        async def go() -> tuple[float, list[int]]:
            import asyncio

            async with httpx.AsyncClient(base_url=p.url, headers=onfleet_auth(), timeout=30) as c:
                t0 = time.perf_counter()
                rs = await asyncio.gather(*(c.get("/api/v2/workers") for _ in range(25)))
                return time.perf_counter() - t0, [r.status_code for r in rs]

        import asyncio

        elapsed, codes = asyncio.run(go())
        # 25 requests of ~200 ms each would take ~5 s if served one by one.
        assert 0.1 < elapsed < 1.5
        assert set(codes) <= {200, 429, 503}
        assert codes.count(429) >= 1  # more than 20 requests/s: the limit bites
    finally:
        p.stop()


def test_tasks_created_before_the_client_gives_up_stay_created(tmp_path: Path) -> None:
    prof = tmp_path / "slowbatch.toml"
    prof.write_text("[latency]\nbatch_per_task_ms = 4.0\n")  # 100 tasks: +0.4 s
    p = EmulatorProcess("--profile", str(prof), "--api-key", KEY)
    try:
        body = {"tasks": [{"destination": {"location": [-122.4, 37.7]}}] * 100}
        with httpx.Client(base_url=p.url, headers=onfleet_auth()) as c:
            with pytest.raises(httpx.TimeoutException):
                c.post("/api/v2/tasks/batch", json=body, timeout=0.15)
            time.sleep(0.5)
            page = c.get("/api/v2/tasks/all?from=0").json()
            more = c.get(f"/api/v2/tasks/all?from=0&lastId={page['lastId']}").json()
            assert len(page["tasks"]) + len(more["tasks"]) == 100
    finally:
        p.stop()


def test_async_job_resumes_after_kill9_without_duplicates(tmp_path: Path) -> None:
    prof = tmp_path / "slowjob.toml"
    prof.write_text("async_tasks_per_s = 400.0\n")  # 300 tasks: ~0.75 s
    db = tmp_path / "jobs.db"
    args = ("--profile", str(prof), "--db", str(db), "--api-key", KEY)
    p = EmulatorProcess(*args)
    try:
        with httpx.Client(base_url=p.url, headers=onfleet_auth(), timeout=10) as c:
            tasks = [
                {"destination": {"location": [-122.4, 37.7]}, "notes": str(i)} for i in range(300)
            ]
            job = c.post("/api/v2/tasks/batch-async", json={"tasks": tasks}).json()
            time.sleep(0.3)
            mid = c.get(f"/api/v2/tasks/batch/{job['jobId']}").json()
        p.kill()
    finally:
        p.stop()
    assert mid["status"] == "processing" and 0 < mid["tasksCreated"] < 300
    q = EmulatorProcess(*args)
    try:
        with httpx.Client(base_url=q.url, headers=onfleet_auth(), timeout=10) as c:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                j = c.get(f"/api/v2/tasks/batch/{job['jobId']}").json()
                if j["status"] == "completed":
                    break
                time.sleep(0.05)
            assert j["status"] == "completed"
            assert j["tasksReceived"] == j["tasksCreated"] == 300
            notes = []
            last = None
            while True:
                page = c.get("/api/v2/tasks/all?from=0" + (f"&lastId={last}" if last else ""))
                notes += [t["notes"] for t in page.json()["tasks"]]
                last = page.json().get("lastId")
                if not last:
                    break
            assert sorted(notes, key=int) == [str(i) for i in range(300)]  # each exactly once
    finally:
        q.stop()
