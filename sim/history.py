"""Real order history: a CSV of past orders, validated row by row into typed records.

See scenarios/README.md for the columns.  Every error names the file, the line, the column,
the bad value and what is allowed.  ``sim.demand`` turns the records into tasks.

Multi-stop orders: rows that share an ``order_id`` are one order.  Within it a row may wait
for others, by ``sequence`` (a row waits for every row of the next lower sequence number)
or by ``depends_on`` (``;``-separated ``stop_id``s of rows of the same order); the rows
must form a DAG.  :func:`group_orders` validates that and returns each order's rows with
their prerequisites as indices.
"""

from __future__ import annotations

import csv
import graphlib
import math
from dataclasses import dataclass, field
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
    # multi-stop orders (module docstring); "" / NaN / () when the CSV has no such column
    order_key: str = ""
    stop_id: str = ""
    sequence: float = math.nan
    depends_on: tuple[str, ...] = ()
    where: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class HistoryGroup:
    """One order's rows (creation order) and, per row, the indices of the rows it waits for."""

    rows: tuple[HistoryOrder, ...]
    waits_for: tuple[tuple[int, ...], ...]

    @property
    def created_s(self) -> float:
        return min(r.created_s for r in self.rows)


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
        "stop_id",
        "sequence",
        "depends_on",
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
    rows: list[tuple[float, int, HistoryOrder]] = []
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
                        HistoryOrder(
                            created,
                            pick,
                            drop,
                            after,
                            before,
                            r.num("service_s"),
                            r.num("pickup_service_s"),
                            order_key=(raw.get("order_id") or "").strip(),
                            stop_id=(raw.get("stop_id") or "").strip(),
                            sequence=_sequence(r),
                            depends_on=_depends_on(r),
                            where=r.where,
                        ),
                    )
                )
        except csv.Error as exc:
            raise ScenarioError(f"{path} line {reader.line_num}: unreadable CSV: {exc}") from None
    if not rows:
        raise ScenarioError(f"{path}: no orders (only a header)")
    rows.sort(key=lambda x: (x[0], x[1]))
    return [o for _, _, o in rows]


def _sequence(r: _Row) -> float:
    x = r.num("sequence")
    if not math.isnan(x) and (x < 0 or x != int(x)):
        raise r._err("sequence", r.row.get("sequence", ""), "expected a whole number >= 0")
    return x


def _depends_on(r: _Row) -> tuple[str, ...]:
    text = (r.row.get("depends_on") or "").strip()
    if not text:
        return ()
    refs = tuple(p.strip() for p in text.split(";"))
    if any(not p for p in refs):
        raise r._err("depends_on", text, "expected stop ids separated by ';' (no empty item)")
    if not (r.row.get("stop_id") or "").strip():
        raise r._err("stop_id", "", "a row with depends_on needs its own stop_id")
    return refs


def group_orders(rows: list[HistoryOrder]) -> list[HistoryGroup]:
    """The orders of :func:`read_history`'s rows, in order of creation: rows sharing an
    ``order_id`` form one order (a row without one is its own), and each row's prerequisites
    come from ``sequence`` or ``depends_on``.  Raises ScenarioError, naming the lines, for a
    reference to an unknown stop, a duplicate stop id, an order mixing the two forms, or a
    cycle."""
    keyed: dict[str, list[HistoryOrder]] = {}
    groups: list[list[HistoryOrder]] = []
    for row in rows:
        if not row.order_key:
            groups.append([row])
        elif row.order_key in keyed:
            keyed[row.order_key].append(row)
        else:
            keyed[row.order_key] = [row]
            groups.append(keyed[row.order_key])
    return [_dag(g) for g in groups]


def _dag(rows: list[HistoryOrder]) -> HistoryGroup:
    index: dict[str, int] = {}
    for j, r in enumerate(rows):
        if r.stop_id in index:
            raise ScenarioError(
                f"{r.where}: stop_id {r.stop_id!r} is used twice in order_id "
                f"{r.order_key!r} (also {rows[index[r.stop_id]].where})"
            )
        if r.stop_id:
            index[r.stop_id] = j
    by_seq = any(not math.isnan(r.sequence) for r in rows)
    by_ref = any(r.depends_on for r in rows)
    if by_seq and by_ref:
        raise ScenarioError(
            f"{rows[0].where}: order_id {rows[0].order_key!r} mixes sequence and depends_on; "
            "use one of them per order"
        )
    if by_seq:
        missing = [r for r in rows if math.isnan(r.sequence)]
        if missing:
            raise ScenarioError(
                f"{missing[0].where}: sequence is empty but other rows of order_id "
                f"{rows[0].order_key!r} have one; give every row of the order a sequence"
            )
        levels = sorted({r.sequence for r in rows})
        below = {lv: levels[i - 1] for i, lv in enumerate(levels) if i}
        waits = tuple(
            tuple(j for j, o in enumerate(rows) if o.sequence == below.get(r.sequence))
            for r in rows
        )
        return HistoryGroup(tuple(rows), waits)
    if not by_ref:
        return HistoryGroup(tuple(rows), tuple(() for _ in rows))
    deps: list[tuple[int, ...]] = []
    for r in rows:
        unknown = [d for d in r.depends_on if d not in index]
        if unknown:
            raise ScenarioError(
                f"{r.where}: depends_on = {';'.join(r.depends_on)!r}: no stop "
                f"{unknown[0]!r} in order_id {r.order_key!r} (known: {', '.join(index)})"
            )
        deps.append(tuple(index[d] for d in r.depends_on))
    sorter = graphlib.TopologicalSorter({j: d for j, d in enumerate(deps)})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        names = " -> ".join(f"{rows[j].stop_id} ({rows[j].where})" for j in cycle)
        raise ScenarioError(
            f"order_id {rows[0].order_key!r}: depends_on forms a cycle: {names}"
        ) from None
    # A stable topological order (lowest row first among the ready ones), so that every
    # row comes after the rows it waits for and the same file always gives the same tasks.
    order: list[int] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    pos = {j: k for k, j in enumerate(order)}
    return HistoryGroup(
        tuple(rows[j] for j in order), tuple(tuple(pos[d] for d in deps[j]) for j in order)
    )
