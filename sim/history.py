"""Real order history: a CSV of past orders, validated row by row into typed records.

See scenarios/README.md for the columns.  Every error names the file, the line, the column,
the bad value and what is allowed.  ``sim.demand`` turns the records into tasks.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from sim.errors import ScenarioError
from sim.geo import validate_lat_lon


@dataclass(frozen=True, slots=True)
class HistoryOrder:
    """One order row: times in seconds from the scenario start, NaN where the CSV is empty."""

    created_s: float
    pickup: tuple[float, float] | None
    dropoff: tuple[float, float]
    complete_after_s: float
    complete_before_s: float
    service_s: float
    pickup_service_s: float


_CSV_REQUIRED: Final = ("dropoff_lat", "dropoff_lon")
_CSV_KNOWN: Final = frozenset(
    {
        "created_s",
        "created_at",
        "pickup_lat",
        "pickup_lon",
        "dropoff_lat",
        "dropoff_lon",
        "complete_after_s",
        "complete_after_at",
        "complete_before_s",
        "complete_before_at",
        "service_s",
        "pickup_service_s",
        "order_id",
    }
)


class _Row:
    def __init__(self, path: str, line: int, row: dict[str, str], start_s: float) -> None:
        self.where = f"{path} line {line}"
        self.row = row
        self.start_s = start_s

    def _err(self, col: str, value: str, allowed: str) -> ScenarioError:
        return ScenarioError(f"{self.where}: {col} = {value!r}: {allowed}")

    def num(self, col: str, *, required: bool = False) -> float:
        value = (self.row.get(col) or "").strip()
        if not value:
            if required:
                raise self._err(col, value, "a number is required")
            return math.nan
        try:
            x = float(value)
        except ValueError:
            raise self._err(col, value, "expected a number") from None
        if not math.isfinite(x):
            raise self._err(col, value, "expected a finite number")
        return x

    def time(self, base: str, *, required: bool = False) -> float:
        """Seconds from the scenario start, from ``<base>_s`` or ISO ``<base>_at``."""
        at = (self.row.get(f"{base}_at") or "").strip()
        if at:
            try:
                dt = datetime.fromisoformat(at.replace("Z", "+00:00"))
            except ValueError:
                raise self._err(f"{base}_at", at, "expected an ISO-8601 timestamp") from None
            if dt.tzinfo is None:
                raise self._err(f"{base}_at", at, "needs a UTC offset, e.g. 2026-01-05T11:00Z")
            return dt.timestamp() - self.start_s
        x = self.num(f"{base}_s")
        if math.isnan(x) and required:
            raise self._err(f"{base}_s", "", f"{base}_s or {base}_at is required")
        return x

    def point(self, side: str, *, required: bool) -> tuple[float, float] | None:
        lat = self.num(f"{side}_lat", required=required)
        lon = self.num(f"{side}_lon", required=required)
        if math.isnan(lat) and math.isnan(lon):
            return None
        if math.isnan(lat) or math.isnan(lon):
            raise ScenarioError(
                f"{self.where}: {side}_lat and {side}_lon go together; give both or neither"
            )
        reason = validate_lat_lon(lat, lon)
        if reason:
            raise ScenarioError(f"{self.where}: {side}: {reason}")
        return lat, lon


def read_history(path: Path, start_s: float) -> list[HistoryOrder]:
    """The orders of a history CSV in creation order (ties in file order); ``start_s`` is the
    scenario start as a UNIX time, which ``*_at`` columns are measured from."""
    try:
        fh = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"demand.csv: cannot open {str(path)!r}: {exc.strerror}") from None
    rows: list[
        tuple[
            float, int, tuple[float, float] | None, tuple[float, float], float, float, float, float
        ]
    ] = []
    with fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in _CSV_REQUIRED if c not in header]
        if missing or not ({"created_s", "created_at"} & set(header)):
            need = [*missing] + (
                [] if {"created_s", "created_at"} & set(header) else ["created_s or created_at"]
            )
            raise ScenarioError(
                f"{path} line 1: missing column(s) {', '.join(need)}; header is {header!r}"
            )
        unknown = sorted(set(header) - _CSV_KNOWN)
        if unknown:
            raise ScenarioError(
                f"{path} line 1: unknown column(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(_CSV_KNOWN))}"
            )
        try:
            for line, raw in enumerate(reader, start=2):
                r = _Row(str(path), line, raw, start_s)
                created = r.time("created", required=True)
                if created < 0:
                    raise r._err(
                        "created", str(created), "is before the scenario start (scenario.start)"
                    )
                pick = r.point("pickup", required=False)
                drop = r.point("dropoff", required=True)
                assert drop is not None
                after, before = r.time("complete_after"), r.time("complete_before")
                if not math.isnan(after) and not math.isnan(before) and before <= after:
                    raise ScenarioError(f"{r.where}: complete_before must be after complete_after")
                rows.append(
                    (
                        created,
                        line,
                        pick,
                        drop,
                        after,
                        before,
                        r.num("service_s"),
                        r.num("pickup_service_s"),
                    )
                )
        except csv.Error as exc:
            raise ScenarioError(f"{path} line {reader.line_num}: unreadable CSV: {exc}") from None
    if not rows:
        raise ScenarioError(f"{path}: no orders (only a header)")
    rows.sort(key=lambda x: (x[0], x[1]))
    return [HistoryOrder(c, p, d, a, b, s, ps) for c, _, p, d, a, b, s, ps in rows]
