"""The emulated Nash API: ``POST /v1/batch_job`` and ``GET /v1/jobs/{id}``.

A batch job has N > 1 packages.  Its type comes from the shared contact (address, name
and phone) on the pickup or dropoff side; ``stopTypes`` lists every pickup, then every
dropoff; a pickup window that opens after another package's dropoff window closes is an
interleaving, refused with 422 ``INVALID_TIME_CONSTRAINT`` [inf].  Quotes are
deterministic: each simulated provider prices the stop sequence's geodesic length
(``FailingFleetSimulator`` always fails).  ``externalIdentifier`` is idempotent.  A new
job emits the ``delivery.created`` webhook event (a replayed one emits nothing).
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from loadtest.emulator.dialect import NASH
from loadtest.emulator.geocode import valid_location
from loadtest.emulator.http import ok, read_json
from loadtest.emulator.services import Runtime
from loadtest.emulator.webhooks.payloads import nash_body
from loadtest.providers.nash import (
    BASE_PATH,
    E_INVALID_ADDRESS,
    E_INVALID_PHONE,
    E_INVALID_TIME,
    MAX_INSTRUCTIONS,
    MAX_NAME,
    MAX_PACKAGES,
    MULTIPLE,
    SINGLE_DROPOFF,
    SINGLE_PICKUP,
)
from sim.geo import geodesic_m

_PROVIDER_NAMES = {
    "FleetSimulatorFast": "FleetSimulator (4TestRunner)",
    "FleetSimulator": "FleetSimulator",
    "FailingFleetSimulator": "FailingFleetSimulator",
}
# Deterministic price model per simulated provider: (base cents, cents per km).
_PRICING = {"FleetSimulatorFast": (700, 180), "FleetSimulator": (550, 150)}


def iso_now(offset_s: float = 0.0) -> str:
    """Nash's timestamps: ISO with microseconds and no timezone."""
    t = datetime.now(UTC) + timedelta(seconds=offset_s)
    return t.replace(tzinfo=None).isoformat(timespec="microseconds")


class NashApi:
    """Nash batch jobs in memory (persisted through the runtime's store)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.jobs: dict[str, dict[str, Any]] = {}
        self.by_external: dict[str, str] = {}
        for job in rt.store.load("nash-job"):
            self._index(job)

    def _index(self, job: dict[str, Any]) -> None:
        self.jobs[job["id"]] = job
        if job.get("externalIdentifier"):
            self.by_external[job["externalIdentifier"]] = job["id"]

    def status_counts(self) -> dict[str, int]:
        return dict(Counter("active" if j["isActive"] else "inactive" for j in self.jobs.values()))

    # -- validation --------------------------------------------------------------------
    def _side(self, pkg: dict[str, Any], side: str, i: int) -> dict[str, Any]:
        where = f"packages[{i}].{side}"
        for key in ("BusinessName", "FirstName", "LastName"):
            v = pkg.get(side + key)
            if v is not None and (not isinstance(v, str) or len(v) > MAX_NAME):
                raise NASH.invalid(
                    f"{where}{key} must be a string of at most {MAX_NAME} characters"
                )
        instr = pkg.get(side + "Instructions")
        if instr is not None and (not isinstance(instr, str) or len(instr) > MAX_INSTRUCTIONS):
            raise NASH.invalid(f"{where}Instructions must be at most {MAX_INSTRUCTIONS} characters")
        phone = pkg.get(side + "PhoneNumber")
        if phone is not None:
            digits = phone[1:] if isinstance(phone, str) and phone.startswith("+") else ""
            if not (digits.isdigit() and 8 <= len(digits) <= 15):
                raise NASH.invalid(
                    f"{where}PhoneNumber {phone!r} is not E.164 (+15555555555)",
                    code=E_INVALID_PHONE,
                )
        addr = pkg.get(side + "Address")
        if addr is not None and not isinstance(addr, str):
            # It becomes part of the stop's key (a set member when inferring the batch
            # type), so anything but a string is refused here, before it is hashed.
            raise NASH.invalid(f"{where}Address must be a string (one address line)")
        lat, lng = pkg.get(side + "Latitude"), pkg.get(side + "Longitude")
        if lat is not None or lng is not None:
            point = valid_location([lng, lat])
            if point is None:
                raise NASH.invalid(
                    f"{where}Latitude/Longitude are not a valid position", code=E_INVALID_ADDRESS
                )
        elif isinstance(addr, str) and addr.strip():
            if self.rt.geocoder.fails(addr):
                raise NASH.invalid(
                    f"{where}Address {addr!r} could not be geocoded", code=E_INVALID_ADDRESS
                )
            lats, lons = self.rt.geocoder.locate([addr])
            point = (lats[0], lons[0])
        else:
            raise NASH.invalid(
                f"{where}Address (or {side}Latitude/{side}Longitude) is required",
                code=E_INVALID_ADDRESS,
            )
        name = " ".join(
            str(pkg.get(side + k) or "") for k in ("BusinessName", "FirstName", "LastName")
        ).strip()
        return {
            "lat": point[0],
            "lon": point[1],
            "address": addr or "",
            "name": name,
            "phone": phone or "",
            "key": (addr or f"{point[0]:.6f},{point[1]:.6f}", name, phone or ""),
        }

    @staticmethod
    def _time(pkg: dict[str, Any], key: str, i: int) -> datetime | None:
        v = pkg.get(key)
        if v is None:
            return None
        try:
            t = datetime.fromisoformat(str(v))
        except ValueError:
            raise NASH.invalid(
                f"packages[{i}].{key} is not an ISO datetime: {v!r}", code=E_INVALID_TIME
            ) from None
        return (
            t.replace(tzinfo=None) if t.tzinfo is None else t.astimezone(UTC).replace(tzinfo=None)
        )

    def _validate(self, body: Any) -> tuple[list[dict[str, Any]], list[tuple[Any, Any]]]:
        if not isinstance(body, dict):
            raise NASH.invalid("The body must be a JSON object with packages")
        pkgs = body.get("packages")
        if not isinstance(pkgs, list) or len(pkgs) < 2:
            raise NASH.invalid("packages must be an array of more than one package (N > 1)")
        if len(pkgs) > MAX_PACKAGES:
            raise NASH.invalid(
                f"packages holds {len(pkgs):,} packages; at most {MAX_PACKAGES} per "
                "batch job: split it into several batch jobs"
            )
        ext = body.get("externalIdentifier")
        if ext is not None and not isinstance(ext, str):
            raise NASH.invalid("externalIdentifier must be a string")
        meta = body.get("jobMetadata")
        if meta is not None and not isinstance(meta, dict):
            raise NASH.invalid("jobMetadata must be an object")
        sides = []
        windows = []
        for i, p in enumerate(pkgs):
            if not isinstance(p, dict):
                raise NASH.invalid(f"packages[{i}] must be an object")
            if p.get("packageDeliveryMode") not in ("now", "scheduled"):
                raise NASH.invalid(
                    f"packages[{i}].packageDeliveryMode is required: now or scheduled"
                )
            for k in ("packageValueCents", "tipAmountCents", "itemsCount"):
                v = p.get(k)
                if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                    raise NASH.invalid(f"packages[{i}].{k} must be a non-negative integer")
            sides.append(
                {"pickup": self._side(p, "pickup", i), "dropoff": self._side(p, "dropoff", i)}
            )
            ps = self._time(p, "packagePickupStartTime", i)
            de = self._time(p, "packageDropoffEndTime", i)
            if ps is not None and de is not None and ps >= de:
                raise NASH.invalid(
                    f"packages[{i}]: the pickup starts after the dropoff window ends",
                    code=E_INVALID_TIME,
                )
            windows.append((ps, de))
        return sides, windows

    @staticmethod
    def _batch_type(sides: list[dict[str, Any]], windows: list[tuple[Any, Any]]) -> str:
        if len({s["pickup"]["key"] for s in sides}) == 1:
            return SINGLE_PICKUP
        if len({s["dropoff"]["key"] for s in sides}) == 1:
            return SINGLE_DROPOFF
        # All pickups come before all dropoffs: no pickup may open after a dropoff closes.
        starts = [w[0] for w in windows if w[0] is not None]
        ends = [w[1] for w in windows if w[1] is not None]
        if starts and ends and max(starts) >= min(ends):
            raise NASH.invalid(
                f"{MULTIPLE} needs every pickup before every "
                "dropoff; a pickup after a dropoff (interleaving) is not allowed",
                code=E_INVALID_TIME,
            )
        return MULTIPLE

    # -- creation ----------------------------------------------------------------------
    def _build(
        self, body: dict[str, Any], sides: list[dict[str, Any]], kind: str
    ) -> dict[str, Any]:
        ids = self.rt.ids
        n = len(sides)
        if kind == SINGLE_PICKUP:
            stops = [sides[0]["pickup"]] + [s["dropoff"] for s in sides]
            stop_types = ["PICKUP"] + ["DROPOFF"] * n
        elif kind == SINGLE_DROPOFF:
            stops = [s["pickup"] for s in sides] + [sides[0]["dropoff"]]
            stop_types = ["PICKUP"] * n + ["DROPOFF"]
        else:
            stops = [s["pickup"] for s in sides] + [s["dropoff"] for s in sides]
            stop_types = ["PICKUP"] * n + ["DROPOFF"] * n
        route_m = sum(
            geodesic_m(a["lat"], a["lon"], b["lat"], b["lon"]) for a, b in itertools.pairwise(stops)
        )
        now = iso_now()
        job_id = ids.prefixed("job_")
        configs = []
        for pkg, s in zip(body["packages"], sides, strict=True):
            cfg_id = ids.prefixed("cfg_")
            configs.append(
                {
                    "id": cfg_id,
                    "package": {"id": ids.prefixed("pkg_"), **pkg},
                    "tasks": [
                        {
                            "id": ids.prefixed("tsk_"),
                            "status": "created",
                            "createdAt": now,
                            "providerId": None,
                        }
                    ],
                    "delivery": None,
                    "publicTrackingUrl": f"https://track.usenash.com/{cfg_id}",
                    "pickupLocation": [s["pickup"]["lon"], s["pickup"]["lat"]],
                    "dropoffLocation": [s["dropoff"]["lon"], s["dropoff"]["lat"]],
                }
            )
        quotes, failed = [], []
        for prov in self.rt.config.nash_providers:
            qid = ids.prefixed("qot_")
            name = _PROVIDER_NAMES.get(prov, prov)
            base = {
                "id": qid,
                "providerId": prov,
                "providerName": name,
                "createdTime": now,
                "expireTime": iso_now(900.0),
                "currency": "USD",
                "tags": [],
                "dropoffEta": iso_now(1800.0 + route_m / 8.0),
            }
            if prov not in _PRICING:
                failed.append(
                    {
                        **base,
                        "priceCents": None,
                        "totalPriceCents": None,
                        "isSuccessful": False,
                        "errorMessage": "Provider declined the batch (simulated).",
                    }
                )
                continue
            fixed, per_km = _PRICING[prov]
            price = fixed * n + round(per_km * route_m / 1000.0)
            quotes.append(
                {
                    **base,
                    "priceCents": price,
                    "totalPriceCents": price,
                    "isSuccessful": True,
                    "errorMessage": None,
                }
            )
        winner = min(quotes, key=lambda q: (q["totalPriceCents"], q["providerId"]), default=None)
        short = hashlib.blake2b(job_id.encode(), digest_size=3).hexdigest().upper()
        return {
            "id": job_id,
            "createdAt": now,
            "portalUrl": f"https://portal.usenash.com/jobs/{job_id}",
            "isActive": True,
            "isBatch": True,
            "externalIdentifier": body.get("externalIdentifier"),
            "jobMetadata": body.get("jobMetadata"),
            "optionsGroup": None,
            "shortReferenceCode": short,
            "route": {"distanceMeters": round(route_m, 1), "stops": len(stops)},
            "jobConfigurations": configs,
            "batch": {
                "id": ids.prefixed("bth_"),
                "type": kind,
                "objectSequence": [c["id"] for c in configs],
                "stopTypes": stop_types,
                "providerId": winner["providerId"] if winner else None,
                "winnerQuote": (
                    {
                        "id": winner["id"],
                        "providerId": winner["providerId"],
                        "providerName": winner["providerName"],
                    }
                    if winner
                    else None
                ),
                "quotes": quotes,
                "failedQuotes": failed,
            },
        }

    async def create_batch_job(self, request: Request) -> Response:
        body = await read_json(request)
        sides, windows = self._validate(body)
        ext = body.get("externalIdentifier")
        if ext and ext in self.by_external:
            return ok(self.jobs[self.by_external[ext]])
        kind = self._batch_type(sides, windows)
        job = self._build(body, sides, kind)
        self._index(job)
        if self.rt.store.durable:
            self.rt.store.put("nash-job", job["id"], job)
        # A new job only (an idempotent replay returned above): delivery.created.  No
        # later status exists yet, so this is the one Nash event the emulator fires.
        events = self.rt.events
        if events.wants("nash", "delivery.created"):
            events.emit(
                "nash", "delivery.created", job["id"], nash_body("delivery", "created", job)
            )
        self.rt.commit()
        return ok(job)

    async def get_job(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["jobId"])
        if job is None:
            raise NASH.not_found(f"Job {request.path_params['jobId']}")
        return ok(job)

    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"{BASE_PATH}/batch_job", self.create_batch_job, methods=["POST"]),
            Route(f"{BASE_PATH}/jobs/{{jobId}}", self.get_job, methods=["GET"]),
        ]
