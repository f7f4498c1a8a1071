"""Onfleet destinations as first-class records: ``POST /destinations``,
``GET /destinations/{id}`` and ``POST /destinations/metadata``.

A destination created here is the same JSON a task's inline destination becomes
(:meth:`OnfleetState.new_destination`), geocoded the same way, and a task may then name it
by id (``"destination": "<id>"``).  Destinations never change once created, so tasks share
them by reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loadtest.emulator.dialect import ONFLEET
from loadtest.emulator.errors import ApiError
from loadtest.emulator.onfleet.task_metadata import parse_entries, parse_query, select
from loadtest.emulator.onfleet.validate import bad, parse_destination
from loadtest.providers.onfleet import E_WRONG_TYPES

if TYPE_CHECKING:
    from loadtest.emulator.onfleet.state import OnfleetState


def create_destination(st: OnfleetState, body: Any, now: int) -> dict[str, Any]:
    """Validate, geocode and index a destination; the caller commits."""
    if not isinstance(body, dict):
        raise bad("the body must be a destination object {address, location?}", E_WRONG_TYPES)
    _, point, addr, notes = parse_destination(body)
    metadata = parse_entries(body["metadata"]) if "metadata" in body else []
    structured: tuple[dict[str, str], bool] | None = None
    if addr is not None:
        prep = st.prepare_address(addr)
        if isinstance(prep, ApiError):
            raise prep
        fields, clean, text = prep
        structured = (fields, clean)
        if point is None:
            lats, lons = st.rt.geocoder.locate([text])
            point = (lats[0], lons[0])
    assert point is not None  # parse_destination requires an address or a location
    lat, lon = point
    dest, _ = st.new_destination(st.rt.ids.onfleet(), now, lat, lon, structured, notes, metadata)
    st.add_destination(dest)
    return dest


def get_destination(st: OnfleetState, did: str) -> dict[str, Any]:
    dest = st.find_destination(did)
    if dest is None:
        raise ONFLEET.not_found(f"destination {did}")
    return dest


def match_destinations(st: OnfleetState, body: Any) -> list[dict[str, Any]]:
    query = parse_query(body)
    return select(st.all_destinations(), lambda d: d.get("metadata") or [], query)
