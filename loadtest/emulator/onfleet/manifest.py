"""The delivery manifest: ``POST /integrations/marketplace`` (the SDKs'
``workers.getDeliveryManifest``).

The body is ``{"path": "providers/manifest/generate?hubId=H&workerId=W", "method": "GET"}``;
``startDate``/``endDate`` (epoch ms) may come as query parameters.  The answer lists the
worker's route from the hub: its active task, then its container in order (restricted to
tasks created in the date range when one is given), with the driver, the vehicle, the
hub's address and the route's total distance (metres) and duration (seconds) by the
simulator's travel model, as the team estimate measures them [inf].  ``turnByTurn``
needs Google directions (the ``X-Api-Key: Google ...`` header); the emulator fetches
nothing, so it is always empty [inf].
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from loadtest.emulator.dialect import ONFLEET
from loadtest.emulator.onfleet.validate import bad
from loadtest.providers.onfleet import E_WRONG_TYPES
from sim.travel import GeodesicTravel

if TYPE_CHECKING:
    from loadtest.emulator.onfleet.state import OnfleetState

_PATH = "providers/manifest/generate"


def _ms(q: Mapping[str, str], name: str) -> int | None:
    raw = q.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 15:
        raise bad(f"{name} must be epoch milliseconds, got {raw!r}")
    return int(raw)


def manifest(
    st: OnfleetState, hubs: Mapping[str, dict[str, Any]], body: Any, q: Mapping[str, str]
) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("path"), str):
        raise bad(
            f'the body must be {{"path": "{_PATH}?hubId=...&workerId=...", "method": "GET"}}',
            E_WRONG_TYPES,
        )
    if body.get("method", "GET") != "GET":
        raise bad("method must be GET")
    parts = urlsplit(body["path"])
    if parts.path.lstrip("/") != _PATH:
        raise bad(f"path must be {_PATH}?hubId=...&workerId=..., got {body['path']!r}")
    args = parse_qs(parts.query)
    hub_id = (args.get("hubId") or [""])[0]
    worker_id = (args.get("workerId") or [""])[0]
    if not hub_id or not worker_id:
        raise bad("path needs both hubId and workerId")
    start, end = _ms(q, "startDate"), _ms(q, "endDate")
    if start is not None and end is not None and start > end:
        raise bad("startDate must not be after endDate")
    hub = hubs.get(hub_id)
    if hub is None:
        raise ONFLEET.not_found(f"hub {hub_id}")
    w = st.get_worker(worker_id)
    ids = ([w.active_task] if w.active_task else []) + w.tasks
    tasks = [t for t in (st.tasks.get(i) for i in ids) if t is not None]
    if start is not None:
        tasks = [t for t in tasks if t.time_created >= start]
    if end is not None:
        tasks = [t for t in tasks if t.time_created <= end]
    cfg = st.rt.config
    travel = GeodesicTravel(cfg.organization.estimate_detour_factor, [], 0.0)
    lon, lat = hub["location"]
    distance = duration = 0.0
    for t in tasks:
        d, s = travel.leg(lat, lon, t.lat, t.lon, 0.0, cfg.eta_speed_mps)
        distance, duration = distance + d, duration + s
        lat, lon = t.lat, t.lon
    a = hub["address"]
    address = ", ".join(
        x
        for x in (
            f"{a.get('number', '')} {a.get('street', '')}".strip(),
            a.get("city"),
            a.get("state"),
            a.get("postalCode"),
            a.get("country"),
        )
        if x
    )
    now = st.rt.clock.now_ms()
    return {
        "manifestDate": now,
        "departureTime": now,
        "driver": {"name": w.name, "phone": w.phone},
        "vehicle": w.vehicle,
        "hubAddress": address,
        "turnByTurn": [],
        "totalDistance": round(distance, 1),
        "totalDuration": round(duration),
        "tasks": [t.to_json() for t in tasks],
    }
