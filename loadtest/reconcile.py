"""Asking the target what exists: reconciliation after a replay, and lookups during one.

Concepts held here: listing Onfleet tasks created since a time (``GET /tasks/all``,
≤64 per page, ``lastId`` until the last page), matching them to this run through the
``fleetsim_run``/``fleetsim_task`` metadata, and :class:`Reconciliation` (expected,
created, missing, duplicated).  Workers and teams carry no metadata on the wire, so they
are found by phone and by name.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from loadtest.wire import HttpResult, meta_value

#: ``get(provider, path, name) -> HttpResult``.
Getter = Callable[[str, str, str], HttpResult]
API = "/api/v2"
MAX_PAGES = 100_000


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Tasks the replay meant to create versus what the target holds for this run."""

    expected: int
    created: int
    missing: int
    duplicated: int
    listed: int = 0
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.error:
            out.pop("error")
        return out


def _get_json(get: Getter, path: str, name: str, sleep: Callable[[float], None]) -> Any:
    for attempt in range(8):
        res = get("onfleet", path, name)
        if res.ok:
            return orjson.loads(res.body) if res.body else None
        if res.status in (0, 429) or res.status >= 500:
            ra = res.header("Retry-After")
            sleep(float(ra) if ra else 0.1 * 2**attempt)
            continue
        raise RuntimeError(f"{name}: HTTP {res.status}: {res.body[:200]!r}")
    raise RuntimeError(f"{name}: no answer after retries")


def iter_tasks(
    get: Getter, since_ms: int, sleep: Callable[[float], None] = time.sleep
) -> Iterator[dict[str, Any]]:
    """Every task the target lists from ``since_ms`` on, following ``lastId``."""
    last: str | None = None
    for _ in range(MAX_PAGES):
        q = f"{API}/tasks/all?from={since_ms}" + (f"&lastId={last}" if last else "")
        page = _get_json(get, q, f"GET {API}/tasks/all", sleep)
        tasks = page.get("tasks", []) if isinstance(page, dict) else []
        yield from (t for t in tasks if isinstance(t, dict))
        last = page.get("lastId") if isinstance(page, dict) else None
        if not last:
            return


def count_run_tasks(
    get: Getter, run_id: str, since_ms: int, sleep: Callable[[float], None] = time.sleep
) -> tuple[dict[int, int], int]:
    """How many server tasks carry each simulator task id of this run; and tasks listed."""
    counts: dict[int, int] = {}
    listed = 0
    for t in iter_tasks(get, since_ms, sleep):
        listed += 1
        if meta_value(t, "fleetsim_run") != run_id:
            continue
        n = meta_value(t, "fleetsim_task")
        if isinstance(n, int | float):
            counts[int(n)] = counts.get(int(n), 0) + 1
    return counts, listed


def find_created_tasks(
    get: Getter,
    run_id: str,
    wanted: set[int],
    since_ms: int,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str]:
    """Server ids of the ``wanted`` simulator tasks this run already created."""
    found: dict[str, str] = {}
    for t in iter_tasks(get, since_ms, sleep):
        if meta_value(t, "fleetsim_run") != run_id:
            continue
        n = meta_value(t, "fleetsim_task")
        if isinstance(n, int | float) and int(n) in wanted and isinstance(t.get("id"), str):
            found[f"task:{int(n)}"] = t["id"]
    return found


def find_worker_or_team(get: Getter, kind: str, key: str) -> str | None:
    """The server id of the worker with phone ``key`` or the team named ``key``."""
    path = f"{API}/workers" if kind == "worker" else f"{API}/teams"
    res = get("onfleet", path, f"GET {path}")
    if not res.ok:
        return None
    items = orjson.loads(res.body)
    field = "phone" if kind == "worker" else "name"
    for it in items if isinstance(items, list) else []:
        if isinstance(it, dict) and it.get(field) == key and isinstance(it.get("id"), str):
            return str(it["id"])
    return None


def reconcile(
    get: Getter,
    run_id: str,
    expected: set[int],
    since_ms: int,
    sleep: Callable[[float], None] = time.sleep,
) -> Reconciliation:
    """Compare what the replay sent creates for with what the target holds."""
    try:
        counts, listed = count_run_tasks(get, run_id, since_ms, sleep)
    except RuntimeError as exc:
        return Reconciliation(len(expected), 0, 0, 0, error=str(exc))
    created = sum(1 for t in expected if counts.get(t, 0) > 0)
    duplicated = sum(c - 1 for c in counts.values() if c > 1)
    return Reconciliation(
        expected=len(expected),
        created=created,
        missing=len(expected) - created,
        duplicated=duplicated,
        listed=listed,
    )
