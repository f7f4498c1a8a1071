"""Validation of one order of ``POST /orders/track``: the per-field 422s, and the
destination placed from its geometry, its address or its place handle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loadtest.emulator.dialect import HYPERTRACK
from loadtest.emulator.geocode import Geocoder, valid_location
from loadtest.emulator.hypertrack.model import epoch_of


def _whole(v: Any) -> Any:
    """2.0 is the integer 2 in JSON Schema (the document's ``integer``): kept as 2.  (A
    null, which the document allows, stands for the default.)"""
    # Past 2**53 a float no longer spells one integer (and JSON's big integers arrive as
    # floats): those stay refused.
    whole = isinstance(v, float) and v.is_integer() and abs(v) <= 2**53
    return int(v) if whole else v


def parse_order(raw: Any, i: int, geocoder: Geocoder, loc: str | None = None) -> dict[str, Any]:
    """One order of a track (or plan) request, checked, with its destination placed; the
    422 names the field as ``orders.<i>.<field>`` (``<loc>.<field>`` when ``loc`` is
    given, ``<field>`` when it is empty: a PATCH)."""
    loc = f"orders.{i}" if loc is None else loc
    if not isinstance(raw, dict):
        raise HYPERTRACK.invalid("must be an object", loc or "__root__")
    if loc == "":
        return _parse(raw, geocoder, lambda f: f)
    return _parse(raw, geocoder, lambda f: f"{loc}.{f}")


def _parse(raw: dict[str, Any], geocoder: Geocoder, at: Callable[[str], str]) -> dict[str, Any]:
    handle = raw.get("order_handle")
    if not isinstance(handle, str) or not handle.strip() or "/" in handle:
        raise HYPERTRACK.invalid("field required (a non-empty string)", at("order_handle"))
    kind = raw.get("type", "drop")
    if kind not in ("pick", "drop"):
        raise HYPERTRACK.invalid("must be pick or drop", at("type"))
    dest = raw.get("destination")
    if not isinstance(dest, dict):
        raise HYPERTRACK.invalid("field required", at("destination"))
    geom = dest.get("geometry")
    address = dest.get("address") or ""
    if not isinstance(address, str):
        raise HYPERTRACK.invalid("must be a string", at("destination.address"))
    if geom is not None:
        coords = geom.get("coordinates") if isinstance(geom, dict) else None
        if (
            not isinstance(geom, dict)
            or geom.get("type") != "Point"
            or valid_location(coords) is None
        ):
            raise HYPERTRACK.invalid(
                "must be a Point with [longitude, latitude]", at("destination.geometry")
            )
    elif address:
        if geocoder.fails(address):
            raise HYPERTRACK.invalid("could not be geocoded", at("destination.address"))
        lats, lons = geocoder.locate([address])
        geom = {"type": "Point", "coordinates": [lons[0], lats[0]]}
    elif dest.get("place_handle"):
        lats, lons = geocoder.locate([str(dest["place_handle"])])
        geom = {"type": "Point", "coordinates": [lons[0], lats[0]]}
    else:
        raise HYPERTRACK.invalid("geometry, address or place_handle required", at("destination"))
    radius = _whole(dest.get("radius"))
    radius = 100 if radius is None else radius
    if isinstance(radius, bool) or not isinstance(radius, int) or radius <= 0:
        raise HYPERTRACK.invalid("must be a positive integer", at("destination.radius"))
    est = _whole(raw.get("expected_service_time"))
    est = 0 if est is None else est  # null is the default; false, "" or [] are not
    if isinstance(est, bool) or not isinstance(est, int) or est < 0:
        raise HYPERTRACK.invalid("must be a non-negative integer", at("expected_service_time"))
    meta = raw.get("metadata") or {}
    if not isinstance(meta, dict):
        raise HYPERTRACK.invalid("must be an object", at("metadata"))
    sched = raw.get("scheduled_at")
    if sched is not None:
        try:
            epoch_of(sched)
        except (TypeError, AttributeError, ValueError):
            raise HYPERTRACK.invalid("must be an ISO-8601 time", at("scheduled_at")) from None
    return {
        "handle": handle,
        "type": kind,
        "geometry": geom,
        "address": address,
        "radius": radius,
        "est": est,
        "metadata": meta,
        "scheduled_at": sched,
    }
