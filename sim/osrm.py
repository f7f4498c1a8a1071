"""``travel.model = "osrm"`` / ``"valhalla"``: trip times from a routing engine's table
API, cached on disk.

Points are snapped to the centres of their H3 cells (``travel.h3_resolution``); the
engine is asked for cell-to-cell durations and distances, at most ``travel.engine_batch``
coordinates a request:

* OSRM's table service: ``GET {url}/table/v1/{profile}/{lon,lat;...}?sources=..&
  destinations=..&annotations=duration,distance`` (metres, seconds);
* Valhalla's matrix service: ``POST {url}/sources_to_targets`` with ``sources``,
  ``targets`` and ``costing`` (kilometres, seconds).

Every answer goes to an SQLite cache keyed by (engine, from cell, to cell, hour), so a
second run, or a sweep, asks nothing again.  Neither request carries a time of day: the
rows are stored with hour ``-1`` and scaled by the vehicle's hourly speed profile, as a
matrix without an ``hour`` column is.  A pair the engine cannot route (``null``) falls
back to the geodesic and is counted.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import sqlite3
from pathlib import Path
from typing import Any, Final

import h3  # type: ignore[import-untyped]
import httpx
import numpy as np
import numpy.typing as npt

from sim.errors import UserError
from sim.matrix import CellTravel, IntArray, cells_of
from sim.scenario import Scenario
from sim.travel import FloatArray, GeodesicTravel

NO_HOUR: Final = -1  # the hour key of an engine without time of day (OSRM)
#: A run asks for every pair among its places' cells up front when there are at most this
#: many cells (300 cells: 89,700 pairs); beyond, each new pair is asked for as it is driven.
PREFETCH_CELLS: Final = 300
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS legs (engine TEXT, from_cell INTEGER, to_cell INTEGER, "
    "hour INTEGER, seconds REAL, meters REAL, PRIMARY KEY (engine, from_cell, to_cell, hour))"
)


DEFAULT_PROFILE: Final = {"osrm": "driving", "valhalla": "auto"}
Answers = dict[tuple[int, int], tuple[float, float]]


class TableClient:
    """Batched calls to one routing engine's table (matrix) service."""

    def __init__(
        self, url: str, profile: str, batch: int, timeout_s: float, engine: str = "osrm"
    ) -> None:
        if engine not in DEFAULT_PROFILE:
            raise ValueError(f"unknown routing engine {engine!r}")
        self.engine = engine
        self.url = url
        self.profile = profile
        self.batch = batch
        self.http = httpx.Client(timeout=timeout_s)
        self.requests = 0

    def close(self) -> None:
        self.http.close()

    def table(self, sources: list[int], destinations: list[int]) -> Answers:
        """Seconds and metres (NaN: not routable) for every source × destination cell,
        in requests of at most ``batch`` coordinates."""
        out: Answers = {}
        half = max(1, self.batch // 2)
        for src in _chunks(sources, half):
            for dst in _chunks(destinations, self.batch - len(src)):
                out.update(self._request(src, dst))
        return out

    def _request(self, src: list[int], dst: list[int]) -> Answers:
        points = [h3.cell_to_latlng(h3.int_to_str(c)) for c in src + dst]
        self.requests += 1
        try:
            if self.engine == "osrm":
                coords = ";".join(f"{lon:.6f},{lat:.6f}" for lat, lon in points)
                params = {
                    "sources": ";".join(str(i) for i in range(len(src))),
                    "destinations": ";".join(str(len(src) + j) for j in range(len(dst))),
                    "annotations": "duration,distance",
                }
                r = self.http.get(f"{self.url}/table/v1/{self.profile}/{coords}", params=params)
            else:
                body = {
                    "sources": [
                        {"lat": round(a, 6), "lon": round(b, 6)} for a, b in points[: len(src)]
                    ],
                    "targets": [
                        {"lat": round(a, 6), "lon": round(b, 6)} for a, b in points[len(src) :]
                    ],
                    "costing": self.profile,
                    "units": "kilometers",
                }
                r = self.http.post(f"{self.url}/sources_to_targets", json=body)
        except httpx.HTTPError as e:
            raise UserError(f"travel.engine_url: cannot reach {self.url}: {e}") from None
        try:
            doc: Any = r.json()
        except ValueError:
            doc = None
        ok = r.status_code == 200 and isinstance(doc, dict)
        if ok and self.engine == "osrm":
            ok = doc.get("code") == "Ok"
        if not ok:
            what = (
                doc.get("message", doc.get("error", doc.get("code")))
                if isinstance(doc, dict)
                else r.text[:200]
            )
            raise UserError(
                f"travel.engine_url: the {self.engine} table request to {self.url} failed "
                f"(HTTP {r.status_code}): {what}"
            )
        if self.engine == "osrm":
            return self._osrm(doc, src, dst)
        return self._valhalla(doc, src, dst)

    def _bad(self, n: int, m: int) -> UserError:
        return UserError(f"travel.engine_url: {self.url} answered without a {n}×{m} table of times")

    def _osrm(self, doc: dict[str, Any], src: list[int], dst: list[int]) -> Answers:
        durations: Any = doc.get("durations")
        distances: Any = doc.get("distances")
        if not _grid(durations, len(src), len(dst)):
            raise self._bad(len(src), len(dst))
        has_m = _grid(distances, len(src), len(dst))
        out: Answers = {}
        for i, f in enumerate(src):
            for j, t in enumerate(dst):
                out[(f, t)] = (_nan(durations[i][j]), _nan(distances[i][j] if has_m else None))
        return out

    def _valhalla(self, doc: dict[str, Any], src: list[int], dst: list[int]) -> Answers:
        rows: Any = doc.get("sources_to_targets")
        if not _grid(rows, len(src), len(dst)):
            raise self._bad(len(src), len(dst))
        out: Answers = {}
        for i, f in enumerate(src):
            for j, t in enumerate(dst):
                cell = rows[i][j] if isinstance(rows[i][j], dict) else {}
                km = cell.get("distance")
                out[(f, t)] = (_nan(cell.get("time")), _nan(None if km is None else km * 1000.0))
        return out


def _grid(x: Any, n: int, m: int) -> bool:
    return (
        isinstance(x, list) and len(x) == n and all(isinstance(r, list) and len(r) == m for r in x)
    )


def _chunks(xs: list[int], size: int) -> list[list[int]]:
    it = iter(xs)
    return [list(c) for c in iter(lambda: tuple(itertools.islice(it, max(1, size))), ())]


class LegCache:
    """Engine answers on disk (SQLite), loaded whole into memory at start."""

    def __init__(self, path: Path, engine: str) -> None:
        self.engine = engine
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # The route optimiser's parts run on threads; sim.vrp serialises every travel
            # call (one thread at a time), which is what SQLite needs across threads.
            self.db = sqlite3.connect(path, check_same_thread=False)
            self.db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise UserError(f"travel.cache_dir: cannot open the cache {path}: {e}") from None
        self.path = path
        self.legs: dict[tuple[int, int, int], tuple[float, float]] = {}
        rows = self.db.execute(
            "SELECT from_cell, to_cell, hour, seconds, meters FROM legs WHERE engine = ?",
            (engine,),
        )
        for f, t, h, s, m in rows:
            self.legs[(f, t, h)] = (_nan(s), _nan(m))

    def put(self, answers: Answers, hour: int) -> None:
        for (f, t), v in answers.items():
            self.legs[(f, t, hour)] = v
        self.db.executemany(
            "INSERT OR REPLACE INTO legs VALUES (?, ?, ?, ?, ?, ?)",
            [
                (self.engine, f, t, hour, _null(s), _null(m))
                for (f, t), (s, m) in sorted(answers.items())
            ],
        )
        self.db.commit()

    def close(self) -> None:
        self.db.close()


def _nan(x: Any) -> float:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else math.nan


def _null(x: float) -> float | None:
    return None if math.isnan(x) else x


class EngineTravel(CellTravel):
    """:class:`CellTravel` answered by a routing engine through a :class:`LegCache`."""

    def __init__(
        self,
        client: TableClient,
        cache: LegCache,
        geo: GeodesicTravel,
        resolution: int,
        vehicles: frozenset[str],
    ) -> None:
        super().__init__(geo, resolution, vehicles, hourly=False)
        self.client = client
        self.cache = cache

    @classmethod
    def from_scenario(cls, scenario: Scenario, geo: GeodesicTravel) -> EngineTravel:
        t = scenario.travel
        assert t.engine_url is not None
        profile = t.engine_profile or DEFAULT_PROFILE[t.model]
        engine = f"{t.model} {t.engine_url} {profile} r{t.h3_resolution}"
        name = f"{t.model}-" + hashlib.sha256(engine.encode()).hexdigest()[:16] + ".sqlite"
        cache = LegCache(scenario.path(t.cache_dir) / name, engine)
        client = TableClient(t.engine_url, profile, t.engine_batch, t.engine_timeout_s, t.model)
        return cls(client, cache, geo, t.h3_resolution, frozenset(t.matrix_vehicles))

    def close(self) -> None:
        self.client.close()
        self.cache.close()

    def prefetch(self, lat: FloatArray, lon: FloatArray) -> int:
        """Ask, in batches, for every pair among the cells of these points that the cache
        lacks (when there are at most :data:`PREFETCH_CELLS` cells), so that a run's legs
        need no request of their own; returns how many pairs were asked for."""
        cells = sorted(set(cells_of(np.asarray(lat), np.asarray(lon), self.resolution).tolist()))
        if len(cells) > PREFETCH_CELLS:
            return 0
        legs = self.cache.legs
        missing = [(a, b) for a in cells for b in cells if a != b and (a, b, NO_HOUR) not in legs]
        if missing:
            sources = sorted({p[0] for p in missing})
            dests = sorted({p[1] for p in missing})
            self.cache.put(self.client.table(sources, dests), NO_HOUR)
        return len(missing)

    def find(self, f: int, t: int, hour: int) -> tuple[float, float] | None:
        hit = self.cache.legs.get((f, t, NO_HOUR))
        if hit is None:
            self.cache.put(self.client.table([f], [t]), NO_HOUR)
            hit = self.cache.legs[(f, t, NO_HOUR)]
        return hit

    def find_many(
        self, f: IntArray, t: IntArray, hour: IntArray
    ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
        legs = self.cache.legs
        pairs = list(zip(f.tolist(), t.tolist(), strict=True))
        missing = sorted({p for p in pairs if p[0] != p[1] and (*p, NO_HOUR) not in legs})
        if missing:
            sources = sorted({p[0] for p in missing})
            dests = sorted({p[1] for p in missing})
            self.cache.put(self.client.table(sources, dests), NO_HOUR)
        got = [legs.get((a, b, NO_HOUR), (math.nan, math.nan)) for a, b in pairs]
        arr = np.array(got, dtype=np.float64).reshape(len(pairs), 2)
        return arr[:, 0], arr[:, 1], ~np.isnan(arr[:, 0])
