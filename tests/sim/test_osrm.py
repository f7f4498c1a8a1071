"""travel.model = "osrm" / "valhalla" against a small fake routing engine (OSRM's table
and Valhalla's sources_to_targets) on a free loopback port; no test needs the network."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import h3
import numpy as np
import pytest

from sim.errors import UserError
from sim.matrix import cell_of
from sim.osrm import EngineTravel, LegCache, TableClient
from sim.output import write_outputs
from sim.run import simulate
from sim.travel import GeodesicTravel, VehicleSpec
from tests.fixtures.scenarios import make_scenario

RES = 8
CAR = VehicleSpec("CAR", 10.0)


def fake_seconds(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """The fake engine's trip time: a Manhattan metric on degrees (not a geodesic)."""
    return round((abs(lat1 - lat2) + abs(lon1 - lon2)) * 20_000.0, 1)


class FakeOsrm(BaseHTTPRequestHandler):
    requests: ClassVar[list[int]] = []  # coordinates per request
    fail: ClassVar[bool] = False

    def do_GET(self) -> None:
        url = urlsplit(self.path)  # not urlparse: it cuts the path at ";"
        parts = url.path.split("/")
        if self.fail or parts[1:4] != ["table", "v1", "driving"]:
            self._send(400, {"code": "InvalidUrl", "message": "bad request"})
            return
        coords = [tuple(map(float, c.split(","))) for c in parts[4].split(";")]
        q = parse_qs(url.query)
        src = [int(i) for i in q["sources"][0].split(";")]
        dst = [int(i) for i in q["destinations"][0].split(";")]
        type(self).requests.append(len(coords))

        def cell(i: int, j: int, scale: float) -> float | None:
            (lon1, lat1), (lon2, lat2) = coords[i], coords[j]
            if lat1 > 40.9 or lat2 > 40.9:  # "north of the river": unroutable
                return None
            return fake_seconds(lon1, lat1, lon2, lat2) * scale

        self._send(
            200,
            {
                "code": "Ok",
                "durations": [[cell(i, j, 1.0) for j in dst] for i in src],
                "distances": [[cell(i, j, 8.0) for j in dst] for i in src],
            },
        )

    def do_POST(self) -> None:
        """Valhalla's matrix: the same trips, distances in kilometres."""
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if self.fail or self.path != "/sources_to_targets" or body.get("costing") != "auto":
            self._send(400, {"error": "bad request", "status_code": 400})
            return
        src, dst = body["sources"], body["targets"]
        type(self).requests.append(len(src) + len(dst))

        def cell(a: dict[str, float], b: dict[str, float]) -> dict[str, Any]:
            if a["lat"] > 40.9 or b["lat"] > 40.9:
                return {"time": None, "distance": None}
            t = fake_seconds(a["lon"], a["lat"], b["lon"], b["lat"])
            return {"time": t, "distance": t * 8.0 / 1000.0}

        self._send(200, {"sources_to_targets": [[cell(a, b) for b in dst] for a in src]})

    def _send(self, status: int, doc: dict[str, Any]) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    FakeOsrm.requests = []
    FakeOsrm.fail = False
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOsrm)  # a free port
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _travel(
    url: str,
    cache: Path,
    batch: int = 100,
    profile: list[float] | None = None,
    engine: str = "osrm",
) -> EngineTravel:
    geo = GeodesicTravel(1.3, profile or [], 11.0)
    client = TableClient(url, "driving" if engine == "osrm" else "auto", batch, 5.0, engine)
    return EngineTravel(client, LegCache(cache, f"{engine} {url}"), geo, RES, frozenset({"CAR"}))


A = (40.7549, -73.9840)
B = (40.7680, -73.9700)


def _centre(lat: float, lon: float) -> tuple[float, float]:
    lat_c, lon_c = h3.cell_to_latlng(h3.latlng_to_cell(lat, lon, RES))
    return float(lat_c), float(lon_c)


@pytest.mark.parametrize("engine", ["osrm", "valhalla"])
def test_leg_is_the_engines_cell_to_cell_time_scaled_by_the_profile(
    server: str, tmp_path: Path, engine: str
) -> None:
    profile = [1.0] * 24
    profile[12] = 0.5
    m = _travel(server, tmp_path / "c.sqlite", profile=profile, engine=engine)
    (alat, alon), (blat, blon) = _centre(*A), _centre(*B)
    want = fake_seconds(round(alon, 6), round(alat, 6), round(blon, 6), round(blat, 6))
    dist, dur = m.leg(*A, *B, 0.0, 10.0, "CAR")
    assert dur == pytest.approx(want)
    assert dist == pytest.approx(want * 8.0)
    assert m.leg(*A, *B, 3700.0, 10.0, "CAR")[1] == pytest.approx(want / 0.5)  # 12:00: half speed
    assert FakeOsrm.requests == [2]  # one request; the second leg came from the cache
    m.close()


def test_disk_cache_is_keyed_by_cell_pair_and_hour_and_reused(server: str, tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    first = _travel(server, path)
    leg = first.leg(*A, *B, 0.0, 10.0, "CAR")
    first.close()
    rows = sqlite3.connect(path).execute("SELECT from_cell, to_cell, hour FROM legs").fetchall()
    assert rows == [(cell_of(*A, RES), cell_of(*B, RES), -1)]
    n = len(FakeOsrm.requests)
    again = _travel(server, path)
    assert again.leg(*A, *B, 0.0, 10.0, "CAR") == leg
    assert len(FakeOsrm.requests) == n  # answered from disk
    again.close()


@pytest.mark.parametrize("engine", ["osrm", "valhalla"])
def test_matrix_is_batched_and_agrees_with_legs(server: str, tmp_path: Path, engine: str) -> None:
    rng = np.random.default_rng(5)
    lat = 40.75 + rng.uniform(-0.03, 0.03, 12)
    lon = -73.98 + rng.uniform(-0.03, 0.03, 12)
    m = _travel(server, tmp_path / "c.sqlite", batch=8, engine=engine)
    dist, dur = m.matrix(lat, lon, lat, lon, 0.0, CAR)
    assert dur.shape == (12, 12)
    assert len(FakeOsrm.requests) > 1 and max(FakeOsrm.requests) <= 8
    sent = len(FakeOsrm.requests)
    for i in range(12):
        for j in range(12):
            assert (dist[i, j], dur[i, j]) == pytest.approx(
                m.leg(lat[i], lon[i], lat[j], lon[j], 0.0, 10.0, "CAR")
            )
    assert len(FakeOsrm.requests) == sent  # every leg came from the cache
    m.close()


@pytest.mark.parametrize("engine", ["osrm", "valhalla"])
def test_unroutable_pairs_fall_back_to_the_geodesic_and_are_counted(
    server: str, tmp_path: Path, engine: str
) -> None:
    m = _travel(server, tmp_path / "c.sqlite", engine=engine)
    north = (40.95, -73.98)
    geo = GeodesicTravel(1.3, [], 11.0).leg(*A, *north, 0.0, 10.0)
    assert m.leg(*A, *north, 0.0, 10.0, "CAR") == pytest.approx(geo)
    assert m.fallbacks == 1
    m.close()


@pytest.mark.parametrize("engine", ["osrm", "valhalla"])
def test_engine_errors_are_user_errors_naming_the_url(
    server: str, tmp_path: Path, engine: str
) -> None:
    FakeOsrm.fail = True
    m = _travel(server, tmp_path / "c.sqlite", engine=engine)
    with pytest.raises(UserError, match=rf"{engine} table request to {server} failed \(HTTP 400\)"):
        m.leg(*A, *B, 0.0, 10.0, "CAR")
    m.close()
    with socket.socket() as s:  # a free loopback port with nobody listening on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    closed = _travel(f"http://127.0.0.1:{port}", tmp_path / "d.sqlite", engine=engine)
    with pytest.raises(UserError, match=rf"cannot reach http://127\.0\.0\.1:{port}"):
        closed.leg(*A, *B, 0.0, 10.0, "CAR")
    closed.close()


@pytest.mark.parametrize("engine", ["osrm", "valhalla"])
def test_a_run_on_the_engine_is_deterministic_and_cached(
    server: str, tmp_path: Path, engine: str
) -> None:
    sc = make_scenario(
        travel={"model": engine, "engine_url": server, "cache_dir": str(tmp_path / "cache")},
        fleet={"workers": 3, "shift_end_h": 3.0, "capacity": 10, "vehicle": "CAR"},
    )
    a = write_outputs(simulate(sc), tmp_path / "a")
    asked = len(FakeOsrm.requests)
    # Every pair among the run's places was asked for up front, in a few batched
    # requests; no leg needed a request of its own (one per new pair: 14 here).
    assert 0 < asked <= 4
    b = write_outputs(simulate(sc), tmp_path / "b")
    assert len(FakeOsrm.requests) == asked  # the second run asked nothing
    for p in sorted(a.iterdir()):
        assert p.read_bytes() == (b / p.name).read_bytes(), p.name


def test_a_split_solve_asks_the_engine_from_its_solver_threads(server: str, tmp_path: Path) -> None:
    """The route optimiser solves a large problem's parts on threads; each part's matrix
    misses the engine cache and is fetched and stored from a solver thread (SQLite
    refuses a connection from another thread unless it is made for it)."""
    from sim.vrp import Item, Problem, Stop, Vehicle, solve

    rng = np.random.default_rng(3)
    vehicles = [
        Vehicle(i, 40.75 + float(rng.uniform(-0.02, 0.02)), -73.98, 0.0, 9 * 3600.0, 8.0, 50.0)
        for i in range(4)
    ]
    items = [
        Item(
            (
                Stop(
                    j,
                    40.75 + float(rng.uniform(-0.03, 0.03)),
                    -73.98 + float(rng.uniform(-0.03, 0.03)),
                    60.0,
                ),
            )
        )
        for j in range(120)
    ]
    m = _travel(server, tmp_path / "c.sqlite")
    sol = solve(Problem(0.0, vehicles, items, m, 5.0))
    routed = sorted(t for r in sol.routes.values() for t in r)
    assert sorted(routed + sol.unassigned) == list(range(120)) and len(sol.routes) > 1
    assert FakeOsrm.requests  # the matrices came from the engine
    m.close()
