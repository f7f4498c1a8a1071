"""Rosters: the fleet as one row per worker, read from a CSV.

A roster file has a header and one row per worker::

    id,team,vehicle,capacity,shift_start,shift_end,breaks,start_lat,start_lon,end_lat,end_lon
    bike-01,east,BICYCLE,4,0,4.5,2+20,40.7580,-73.9855,40.7580,-73.9855

``shift_start``/``shift_end`` are hours from the scenario start; ``breaks`` holds
``START_H+MINUTES`` items separated by ``;``; the start and end positions may be empty
(start: random in the region; end: no return).  ``speed_kmh`` is an optional column.
Each row is validated as a one-worker :class:`~sim.scenario.FleetGroup`, so a roster and
``[[fleet.groups]]`` obey the same rules; an error names the file, the line and the field.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from sim.errors import ScenarioError
from sim.scenario import FleetGroup

REQUIRED: Final = ("id", "team", "vehicle", "capacity", "shift_start", "shift_end")
OPTIONAL: Final = ("breaks", "start_lat", "start_lon", "end_lat", "end_lon", "speed_kmh")


@dataclass(frozen=True, slots=True)
class RosterRow:
    """One worker of a roster: its label and its validated one-worker group."""

    label: str
    group: FleetGroup


def _point(row: dict[str, str], lat: str, lon: str, where: str) -> list[float] | None:
    a, b = (row.get(lat) or "").strip(), (row.get(lon) or "").strip()
    if not a and not b:
        return None
    if not a or not b:
        raise ScenarioError(f"{where}: give both {lat} and {lon}, or neither")
    try:
        return [float(a), float(b)]
    except ValueError:
        raise ScenarioError(f"{where}: {lat}/{lon} {a!r}, {b!r} are not numbers") from None


def read_roster(path: Path) -> list[RosterRow]:
    """The workers of a roster CSV, in file order; a :class:`ScenarioError` names the
    file, line and field of the first problem."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise ScenarioError(f"fleet.roster: cannot read {path}: {e.strerror or e}") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ScenarioError(
            f"{path}: missing column(s) {', '.join(missing)}; a roster needs "
            f"{', '.join(REQUIRED)} and may have {', '.join(OPTIONAL)}"
        )
    unknown = [c for c in header if c not in REQUIRED and c not in OPTIONAL]
    if unknown:
        raise ScenarioError(f"{path}: unknown column(s) {', '.join(unknown)}")
    rows: list[RosterRow] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(reader):
        line = i + 2  # the header is line 1
        where = f"{path}: line {line}"
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        label = row["id"]
        if not label:
            raise ScenarioError(f"{where}: id is empty")
        if label in seen:
            raise ScenarioError(f"{where}: id {label!r} repeats line {seen[label]}")
        seen[label] = line
        data: dict[str, Any] = {
            "count": 1,
            "team": row["team"],
            "vehicle": row["vehicle"].upper(),
            "capacity": row["capacity"],
            "shift_start_h": row["shift_start"],
            "shift_end_h": row["shift_end"],
            "breaks": [b for b in row.get("breaks", "").split(";") if b.strip()],
        }
        if row.get("speed_kmh"):
            data["speed_kmh"] = row["speed_kmh"]
        start = _point(row, "start_lat", "start_lon", where)
        end = _point(row, "end_lat", "end_lon", where)
        if start is not None:
            data["start_hub"] = start
        if end is not None:
            data["end_hub"] = end
        try:
            group = FleetGroup.model_validate(data)
        except ValidationError as e:
            err = e.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "row"
            field = {"shift_start_h": "shift_start", "shift_end_h": "shift_end"}.get(field, field)
            raise ScenarioError(
                f"{where} (id {label!r}): {field}: {err['msg'].removeprefix('Value error, ')}"
            ) from None
        rows.append(RosterRow(label, group))
    if not rows:
        raise ScenarioError(f"{path}: the roster has no workers")
    return rows
