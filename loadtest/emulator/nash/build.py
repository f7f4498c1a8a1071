"""Nash batch jobs built from a request: validation at the edge, the batch type, the stop
sequence and the quotes (:class:`JobBuilder`).

A batch job has N > 1 packages.  Its type comes from the shared contact (address, name
and phone) on the pickup or dropoff side; ``stopTypes`` lists every pickup, then every
dropoff; a pickup window that opens after another package's dropoff window closes is an
interleaving, refused with 422 ``INVALID_TIME_CONSTRAINT`` [inf].  Quotes are
deterministic: each simulated provider prices the stop sequence's geodesic length
(``FailingFleetSimulator`` always fails to quote).  Payload caps [inf]: at most
``MAX_PACKAGES`` packages, each at most ``MAX_PACKAGE_BYTES`` of JSON, and a
``jobMetadata`` of at most ``MAX_METADATA_BYTES``: past any of them, 422
``VALIDATION_ERRORS``.
"""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime
from typing import Any

import orjson

from loadtest.emulator.dialect import NASH
from loadtest.emulator.geocode import valid_location
from loadtest.emulator.nash.lifecycle import iso_at
from loadtest.emulator.services import Runtime
from loadtest.providers.nash import (
    E_INVALID_ADDRESS,
    E_INVALID_PHONE,
    E_INVALID_TIME,
    MAX_INSTRUCTIONS,
    MAX_METADATA_BYTES,
    MAX_NAME,
    MAX_PACKAGE_BYTES,
    MAX_PACKAGES,
    MULTIPLE,
    SINGLE_DROPOFF,
    SINGLE_PICKUP,
    TASK_CREATED,
)
from sim.geo import geodesic_m

PROVIDER_NAMES = {
    "FleetSimulatorFast": "FleetSimulator (4TestRunner)",
    "FleetSimulator": "FleetSimulator",
    "FailingFleetSimulator": "FailingFleetSimulator",
}
# Deterministic price model per simulated provider: (base cents, cents per km).
_PRICING = {"FleetSimulatorFast": (700, 180), "FleetSimulator": (550, 150)}
QUOTE_TTL_S = 900.0  # [inf] a quote's expireTime: 15 simulated minutes after it is made


class JobBuilder:
    """Validates batch-job bodies and builds jobs and quotes (see the module docstring)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

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

    def validate(self, body: Any) -> tuple[list[dict[str, Any]], list[tuple[Any, Any]]]:
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
        if meta is not None and len(orjson.dumps(meta)) > MAX_METADATA_BYTES:
            raise NASH.invalid(f"jobMetadata is larger than {MAX_METADATA_BYTES:,} bytes of JSON")
        sides = []
        windows = []
        for i, p in enumerate(pkgs):
            side, window = self.package(p, i)
            sides.append(side)
            windows.append(window)
        return sides, windows

    def package(self, p: Any, i: int) -> tuple[dict[str, Any], tuple[Any, Any]]:
        """One package checked: its two stops and its (pickup start, dropoff end)."""
        if not isinstance(p, dict):
            raise NASH.invalid(f"packages[{i}] must be an object")
        if len(orjson.dumps(p)) > MAX_PACKAGE_BYTES:
            raise NASH.invalid(
                f"packages[{i}] is larger than {MAX_PACKAGE_BYTES:,} bytes of JSON: "
                "keep instructions, barcodes and metadata short"
            )
        if p.get("packageDeliveryMode") not in ("now", "scheduled"):
            raise NASH.invalid(f"packages[{i}].packageDeliveryMode is required: now or scheduled")
        for k in ("packageValueCents", "tipAmountCents", "itemsCount"):
            v = p.get(k)
            # 2.0 is the integer 2 in JSON Schema (the document's ``integer``): kept as 2.
            if isinstance(v, float) and v.is_integer() and abs(v) <= 2**53:
                v = p[k] = int(v)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise NASH.invalid(f"packages[{i}].{k} must be a non-negative integer")
        side = {"pickup": self._side(p, "pickup", i), "dropoff": self._side(p, "dropoff", i)}
        ps = self._time(p, "packagePickupStartTime", i)
        de = self._time(p, "packageDropoffEndTime", i)
        if ps is not None and de is not None and ps >= de:
            raise NASH.invalid(
                f"packages[{i}]: the pickup starts after the dropoff window ends",
                code=E_INVALID_TIME,
            )
        return side, (ps, de)

    @staticmethod
    def batch_type(sides: list[dict[str, Any]], windows: list[tuple[Any, Any]]) -> str:
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

    # -- building --------------------------------------------------------------------
    @staticmethod
    def stops(sides: list[dict[str, Any]], kind: str) -> tuple[list[dict[str, Any]], list[str]]:
        """The stop sequence of a batch of type ``kind`` and each stop's type."""
        n = len(sides)
        if kind == SINGLE_PICKUP:
            return [sides[0]["pickup"]] + [s["dropoff"] for s in sides], ["PICKUP"] + [
                "DROPOFF"
            ] * n
        if kind == SINGLE_DROPOFF:
            return [s["pickup"] for s in sides] + [sides[0]["dropoff"]], ["PICKUP"] * n + [
                "DROPOFF"
            ]
        return [s["pickup"] for s in sides] + [s["dropoff"] for s in sides], ["PICKUP"] * n + [
            "DROPOFF"
        ] * n

    def quote_batch(self, job: dict[str, Any], sides: list[dict[str, Any]], kind: str) -> None:
        """(Re)compute the job's route, batch type, stop types and quotes (new quote ids)
        from its packages' stops."""
        stops, stop_types = self.stops(sides, kind)
        route_m = sum(
            geodesic_m(a["lat"], a["lon"], b["lat"], b["lon"]) for a, b in itertools.pairwise(stops)
        )
        n = len(sides)
        now_s = self.rt.clock.now_s()
        now = iso_at(now_s)
        quotes, failed = [], []
        for prov in self.rt.config.nash_providers:
            base = {
                "id": self.rt.ids.prefixed("qot_"),
                "providerId": prov,
                "providerName": PROVIDER_NAMES.get(prov, prov),
                "createdTime": now,
                "expireTime": iso_at(now_s + QUOTE_TTL_S),
                "currency": "USD",
                "tags": [],
                "dropoffEta": iso_at(now_s + 1800.0 + route_m / 8.0),
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
        job["route"] = {"distanceMeters": round(route_m, 1), "stops": len(stops)}
        batch = job["batch"]
        batch["type"] = kind
        batch["stopTypes"] = stop_types
        batch["providerId"] = winner["providerId"] if winner else None
        batch["winnerQuote"] = (
            {
                "id": winner["id"],
                "providerId": winner["providerId"],
                "providerName": winner["providerName"],
            }
            if winner
            else None
        )
        batch["quotes"] = quotes
        batch["failedQuotes"] = failed

    def build(self, body: dict[str, Any], sides: list[dict[str, Any]], kind: str) -> dict[str, Any]:
        """A new job (ids drawn in a fixed order: job, then per package cfg, pkg, tsk,
        then one quote per provider, then the batch)."""
        ids = self.rt.ids
        now = iso_at(self.rt.clock.now_s())
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
                            "status": TASK_CREATED,
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
        short = hashlib.blake2b(job_id.encode(), digest_size=3).hexdigest().upper()
        job: dict[str, Any] = {
            "id": job_id,
            "createdAt": now,
            "portalUrl": f"https://portal.usenash.com/jobs/{job_id}",
            "isActive": True,
            "isBatch": True,
            "externalIdentifier": body.get("externalIdentifier"),
            "jobMetadata": body.get("jobMetadata"),
            "optionsGroup": None,
            "shortReferenceCode": short,
            "route": None,
            "jobConfigurations": configs,
            "batch": {"id": "", "type": kind, "objectSequence": [c["id"] for c in configs]},
        }
        self.quote_batch(job, sides, kind)
        job["batch"]["id"] = ids.prefixed("bth_")  # after the quotes, as ids always were
        return job
