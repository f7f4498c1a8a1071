"""Validation of one Deftship shipment: the per-field ``errors`` an item carries (the
batch is validated asynchronously, so a bad item is ``invalid``, not a 422)."""

from __future__ import annotations

import re
from typing import Any

_ADDRESS_FIELDS = ("name", "street_1", "city", "zip", "state", "country", "telephone")
_PARCEL_FIELDS = ("count", "length", "width", "height", "weight")
_TEL = re.compile(r"^\+?\d{10,15}$")


def _address_errors(addr: Any, prefix: str) -> dict[str, list[str]]:
    if not isinstance(addr, dict):
        return {prefix: [f"The {prefix} field is required."]}
    errs: dict[str, list[str]] = {}
    for f in _ADDRESS_FIELDS:
        v = addr.get(f)
        if not isinstance(v, str) or not v.strip():
            errs[f"{prefix}.{f}"] = [f"The {prefix}.{f} field is required."]
    tel = addr.get("telephone")
    if isinstance(tel, str) and tel and not _TEL.match(tel.replace("-", "").replace(" ", "")):
        errs[f"{prefix}.telephone"] = ["The telephone must be 10 to 15 digits."]
    if addr.get("country") not in (None, "US", "CA") and isinstance(addr.get("country"), str):
        errs[f"{prefix}.country"] = ["Only US and CA addresses are supported."]
    return errs


def item_errors(s: Any) -> dict[str, list[str]] | None:
    """Validation errors of one shipment (the item's ``errors``), or None when valid."""
    if not isinstance(s, dict):
        return {"shipment": ["The shipment must be an object."]}
    errs: dict[str, list[str]] = {}
    if s.get("from_address_id") is None:
        errs.update(_address_errors(s.get("from_address"), "from_address"))
    errs.update(_address_errors(s.get("to_address"), "to_address"))
    parcels = s.get("package_list")
    if not isinstance(parcels, list) or not parcels:
        errs["package_list"] = ["The package_list must have at least 1 item."]
    else:
        for i, p in enumerate(parcels):
            for f in _PARCEL_FIELDS:
                v = p.get(f) if isinstance(p, dict) else None
                if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
                    errs[f"package_list.{i}.{f}"] = [f"The {f} must be greater than 0."]
    return errs or None
