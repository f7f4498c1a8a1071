"""Worker schedules (``GET``/``POST /workers/{id}/schedule``) and the duty they drive.

A schedule is a list of entries ``{date: "YYYY-MM-DD", timezone, shifts: [[start, end]]}``
with shift edges in epoch ms.  ``POST`` merges by date: an entry replaces the worker's
entry for the same date [inf], and the answer is the whole schedule, sorted by date.

Duty follows the emulator's clock (``rt.clock``, so the config's ``time_scale``
applies): when the clock passes a shift's start the worker goes on duty, at its end off
duty
(firing workerDuty as the driver app's switch does).  Only edges still ahead when the
schedule is set count; between edges the driver app may switch duty freely.  Evaluation
is lazy [inf]: every request that reads or uses duty (worker reads, location search,
autoAssign, team estimate and dispatch, the driver app) first applies the edges the
clock has passed, from a heap, so it costs nothing while no edge is due.  A workerDuty
webhook is therefore emitted at the first such request after its edge, not at the edge.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import zoneinfo
from typing import TYPE_CHECKING, Any

from loadtest.emulator.onfleet.validate import bad
from loadtest.providers.onfleet import E_WRONG_TYPES

if TYPE_CHECKING:
    from loadtest.emulator.onfleet.state import OnfleetState

#: Entries per request and shifts per entry [inf]: bounded so that a body under the size
#: cap cannot make one worker's schedule (and the edge heap) unboundedly large.
MAX_ENTRIES = 400
MAX_SHIFTS = 24
#: Entries one worker's schedule holds at most (a year and a month of days) [inf].
MAX_STORED_ENTRIES = 400


def _entry(raw: Any, i: int) -> dict[str, Any]:
    where = f"entries[{i}]"
    if not isinstance(raw, dict):
        raise bad(f"{where} must be an object {{date, timezone, shifts}}", E_WRONG_TYPES)
    date = raw.get("date")
    try:
        if not isinstance(date, str) or len(date) != 10:
            raise ValueError
        dt.date.fromisoformat(date)
    except ValueError:
        raise bad(f"{where}.date must be a YYYY-MM-DD date, got {date!r}") from None
    tz = raw.get("timezone")
    try:
        if not isinstance(tz, str) or not tz:
            raise ValueError
        zoneinfo.ZoneInfo(tz)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise bad(f"{where}.timezone must be an IANA time zone, got {tz!r}") from None
    shifts = raw.get("shifts")
    if not isinstance(shifts, list):
        raise bad(f"{where}.shifts must be an array of [start, end] (epoch ms)", E_WRONG_TYPES)
    if len(shifts) > MAX_SHIFTS:
        raise bad(f"{where}.shifts holds {len(shifts)} shifts; at most {MAX_SHIFTS}")
    out: list[list[int]] = []
    for k, s in enumerate(shifts):
        if (
            not isinstance(s, list)
            or len(s) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in s)
        ):
            raise bad(f"{where}.shifts[{k}] must be [start, end] in epoch ms", E_WRONG_TYPES)
        start, end = s
        if not (0 <= start < end <= 10**15):
            raise bad(f"{where}.shifts[{k}]: start must be before end (epoch ms)")
        out.append([start, end])
    out.sort()
    for a, b in itertools.pairwise(out):
        if b[0] < a[1]:
            raise bad(f"{where}.shifts overlap: {a} and {b}")
    return {"date": date, "timezone": tz, "shifts": out}


class Schedules:
    """Every worker's schedule and the heap of shift edges still ahead."""

    def __init__(self, state: OnfleetState) -> None:
        self.state = state
        self.entries: dict[str, dict[str, dict[str, Any]]] = {}  # worker -> date -> entry
        self.version: dict[str, int] = {}
        # (edge ms, worker id, on duty?, version): a stale version is skipped when popped.
        self._edges: list[tuple[int, str, bool, int]] = []
        self._applying = False
        for d in state.rt.store.load("onfleet-schedule"):
            self.entries[d["id"]] = {e["date"]: e for e in d["entries"]}
            self._reschedule(d["id"])

    def _reschedule(self, wid: str) -> None:
        v = self.version.get(wid, 0) + 1
        self.version[wid] = v
        now = self.state.rt.clock.now_ms()
        for e in self.entries.get(wid, {}).values():
            for start, end in e["shifts"]:
                if start > now:
                    heapq.heappush(self._edges, (start, wid, True, v))
                if end > now:
                    heapq.heappush(self._edges, (end, wid, False, v))

    def get(self, wid: str) -> dict[str, Any]:
        self.state.get_worker(wid)
        return self._json(wid)

    def _json(self, wid: str) -> dict[str, Any]:
        book = self.entries.get(wid, {})
        return {"entries": [book[k] for k in sorted(book)]}

    def set(self, wid: str, body: Any) -> dict[str, Any]:
        self.state.get_worker(wid)
        if not isinstance(body, dict) or not isinstance(body.get("entries"), list):
            raise bad('the body must be {"entries": [{date, timezone, shifts}]}', E_WRONG_TYPES)
        raw = body["entries"]
        if not raw or len(raw) > MAX_ENTRIES:
            raise bad(f"entries holds {len(raw)} entries; send 1 to {MAX_ENTRIES}")
        new = [_entry(e, i) for i, e in enumerate(raw)]
        if len({e["date"] for e in new}) != len(new):
            raise bad("entries lists a date twice")
        book = dict(self.entries.get(wid, {}))
        for e in new:
            book[e["date"]] = e
        if len(book) > MAX_STORED_ENTRIES:
            raise bad(f"a worker's schedule holds at most {MAX_STORED_ENTRIES} dates")
        shifts = sorted(s for e in book.values() for s in e["shifts"])
        for a, b in itertools.pairwise(shifts):
            if b[0] < a[1]:
                raise bad(f"shifts overlap across dates: {a} and {b}")
        self.apply_due()  # edges already passed act under the old schedule
        self.entries[wid] = book
        self._reschedule(wid)
        if self.state.rt.store.durable:
            self.state.rt.store.put(
                "onfleet-schedule", wid, {"id": wid, "entries": list(book.values())}
            )
        return self._json(wid)

    def forget(self, wid: str) -> None:
        """A deleted worker's schedule goes with it."""
        if self.entries.pop(wid, None) is not None:
            self.version[wid] = self.version.get(wid, 0) + 1
            if self.state.rt.store.durable:
                self.state.rt.store.put("onfleet-schedule", wid, {"id": wid, "entries": []})

    def apply_due(self) -> bool:
        """Apply every shift edge the clock has passed, in time order; True if any did
        (a read-only route then commits, so the duty change and its webhook go out)."""
        edges = self._edges
        if not edges or self._applying:
            return False
        now = self.state.rt.clock.now_ms()
        if edges[0][0] > now:
            return False
        self._applying = True
        applied = False
        try:
            while edges and edges[0][0] <= now:
                _, wid, on, v = heapq.heappop(edges)
                if self.version.get(wid) != v or wid not in self.state.workers:
                    continue
                self.state.set_duty(wid, on, None)
                applied = True
        finally:
            self._applying = False
        return applied
