"""``travel.model = "osrm"``: trip times from a routing engine's table API, cached on disk.

Points are snapped to the centres of their H3 cells (``travel.h3_resolution``); the
engine is asked for cell-to-cell durations and distances with OSRM's table service
(``GET {url}/table/v1/{profile}/{lon,lat;...}?sources=..&destinations=..``), at most
``travel.osrm_batch`` coordinates a request.  Every answer goes to an SQLite cache keyed
by (engine, from cell, to cell, hour), so a second run, or a sweep, asks nothing again.
OSRM's table has no time of day: its rows are stored with hour ``-1`` and scaled by the
vehicle's hourly speed profile, as a matrix without an ``hour`` column is.  A pair the
engine cannot route (``null``) falls back to the geodesic and is counted.
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
from sim.matrix import CellTravel, IntArray
from sim.scenario import Scenario
from sim.travel import FloatArray, GeodesicTravel

NO_HOUR: Final = -1  # the hour key of an engine without time of day (OSRM)
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS legs (engine TEXT, from_cell INTEGER, to_cell INTEGER, "
    "hour INTEGER, seconds REAL, meters REAL, PRIMARY KEY (engine, from_cell, to_cell, hour))"
)


class OsrmClient:
    """Batched calls to one OSRM server's table service."""

    def __init__(self, url: str, profile: str, batch: int, timeout_s: float) -> None:
        self.url = url
        self.profile = profile
        self.batch = batch
        self.http = httpx.Client(timeout=timeout_s)
        self.requests = 0

    def close(self) -> None:
        self.http.close()

    def table(
        self, sources: list[int], destinations: list[int]
    ) -> dict[tuple[int, int], tuple[float, float]]:
        """Seconds and metres (NaN: not routable) for every source × destination cell,
        in requests of at most ``batch`` coordinates."""
        out: dict[tuple[int, int], tuple[float, float]] = {}
        half = max(1, self.batch // 2)
        for src in _chunks(sources, half):
            for dst in _chunks(destinations, self.batch - len(src)):
                out.update(self._request(src, dst))
        return out

    def _request(
        self, src: list[int], dst: list[int]
    ) -> dict[tuple[int, int], tuple[float, float]]:
        cells = src + dst
        coords = ";".join(
            f"{lon:.6f},{lat:.6f}"
            for lat, lon in (h3.cell_to_latlng(h3.int_to_str(c)) for c in cells)
        )
        url = f"{self.url}/table/v1/{self.profile}/{coords}"
        params = {
            "sources": ";".join(str(i) for i in range(len(src))),
            "destinations": ";".join(str(len(src) + j) for j in range(len(dst))),
            "annotations": "duration,distance",
        }
        self.requests += 1
        try:
            r = self.http.get(url, params=params)
        except httpx.HTTPError as e:
            raise UserError(f"travel.osrm_url: cannot reach {self.url}: {e}") from None
        try:
            doc: Any = r.json()
        except ValueError:
            doc = None
        if r.status_code != 200 or not isinstance(doc, dict) or doc.get("code") != "Ok":
            what = doc.get("message", doc.get("code")) if isinstance(doc, dict) else r.text[:200]
            raise UserError(
                f"travel.osrm_url: the table request to {self.url} failed "
                f"(HTTP {r.status_code}): {what}"
            )
        durations: Any = doc.get("durations")
        distances: Any = doc.get("distances")
        if not _grid(durations, len(src), len(dst)):
            raise UserError(
                f"travel.osrm_url: {self.url} answered without a {len(src)}×{len(dst)} "
                "durations table"
            )
        has_m = _grid(distances, len(src), len(dst))
        out = {}
        for i, f in enumerate(src):
            for j, t in enumerate(dst):
                s = durations[i][j]
                m = distances[i][j] if has_m else None
                out[(f, t)] = (
                    math.nan if s is None else float(s),
                    math.nan if m is None else float(m),
                )
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
            self.db = sqlite3.connect(path)
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

    def put(self, answers: dict[tuple[int, int], tuple[float, float]], hour: int) -> None:
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


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _null(x: float) -> float | None:
    return None if math.isnan(x) else x


class OsrmTravel(CellTravel):
    """:class:`CellTravel` answered by an OSRM server through a :class:`LegCache`."""

    def __init__(
        self,
        client: OsrmClient,
        cache: LegCache,
        geo: GeodesicTravel,
        resolution: int,
        vehicles: frozenset[str],
    ) -> None:
        super().__init__(geo, resolution, vehicles, hourly=False)
        self.client = client
        self.cache = cache

    @classmethod
    def from_scenario(cls, scenario: Scenario, geo: GeodesicTravel) -> OsrmTravel:
        t = scenario.travel
        assert t.osrm_url is not None
        engine = f"osrm {t.osrm_url} {t.osrm_profile} r{t.h3_resolution}"
        name = "osrm-" + hashlib.sha256(engine.encode()).hexdigest()[:16] + ".sqlite"
        cache = LegCache(scenario.path(t.cache_dir) / name, engine)
        client = OsrmClient(t.osrm_url, t.osrm_profile, t.osrm_batch, t.osrm_timeout_s)
        return cls(client, cache, geo, t.h3_resolution, frozenset(t.matrix_vehicles))

    def close(self) -> None:
        self.client.close()
        self.cache.close()

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
