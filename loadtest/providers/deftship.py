"""Deftship batch shipments: request bodies, limits and builders (API-NOTES §3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

BASE_PATH = "/api/batches"
MAX_ITEMS = 1_000
MAX_REMOVE_IDS = 10_000
PER_PAGE = 100
LABEL_GROUP = 100
BATCH_STATUSES = ("validating", "invalid", "ready", "processing", "completed")
ITEM_STATUSES = ("valid", "invalid", "completed", "failed")
MSG_UNAUTHENTICATED = "Unauthenticated."
MSG_NOT_FOUND = "Batch not found."
MSG_BEING_PROCESSED = "Shipment batch is being processed."
MSG_NOT_READY = "Batch is not ready to ship."


class Address(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    street_1: str
    city: str
    zip: str
    state: str
    country: str
    telephone: str


class Parcel(BaseModel):
    model_config = ConfigDict(extra="allow")
    count: int = Field(ge=1)
    length: float = Field(gt=0)
    width: float = Field(gt=0)
    height: float = Field(gt=0)
    weight: float = Field(gt=0)
    reference_1: str | None = None


class Shipment(BaseModel):
    """One item of a batch: from (id or address), to, parcels."""

    model_config = ConfigDict(extra="allow")
    from_address_id: int | str | None = None
    from_address: Address | None = None
    return_address_id: int | str | None = None
    to_address: Address
    package_list: list[Parcel] = Field(min_length=1)


class BatchCreate(BaseModel):
    """Body of POST /api/batches (at most 1,000 shipments)."""

    shipper_id: int
    service: str
    batch_shipments: list[Shipment] = Field(min_length=1, max_length=MAX_ITEMS)


class AddItems(BaseModel):
    batch_shipments: list[Shipment] = Field(min_length=1, max_length=MAX_ITEMS)


class RemoveItems(BaseModel):
    batch_shipment_ids: list[str] = Field(min_length=1, max_length=MAX_REMOVE_IDS)


def address(name: str, street: str, city: str, zip_code: str, state: str) -> dict[str, Any]:
    return {
        "name": name,
        "street_1": street,
        "city": city,
        "zip": zip_code,
        "state": state,
        "country": "US",
        "telephone": "4155550100",
    }


def shipment_body(
    to: dict[str, Any], from_address_id: int = 1, weight: float = 1.0, reference: str = ""
) -> dict[str, Any]:
    return {
        "from_address_id": from_address_id,
        "to_address": to,
        "package_list": [
            {
                "count": 1,
                "length": 10,
                "width": 8,
                "height": 4,
                "weight": weight,
                "reference_1": reference,
            }
        ],
    }


def batch_body(
    shipments: list[dict[str, Any]], shipper_id: int = 99999999, service: str = "USPS-3"
) -> dict[str, Any]:
    return {"shipper_id": shipper_id, "service": service, "batch_shipments": shipments}


def auth_headers(token: str) -> dict[str, str]:
    """Request headers for a Deftship API token (Bearer)."""
    return {"Authorization": f"Bearer {token}"}


# -- reading answers (pure functions over decoded JSON) ---------------------------------
#: Batch statuses at which validation has ended, and at which shipping has ended
#: (subsets of :data:`BATCH_STATUSES`).
VALIDATED = ("ready", "invalid", "completed")
SHIPPED = ("completed", "invalid")


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """``GET /api/batches/{id}``: the batch status and its per-item counts."""

    status: str
    valid_count: int = 0
    invalid_count: int = 0
    completed_count: int = 0
    failed_count: int = 0


def batch_status(data: Any) -> BatchStatus:
    inner = data.get("data") if isinstance(data, dict) else None
    if not isinstance(inner, dict):
        return BatchStatus("")
    counts = inner.get("results") or {}
    return BatchStatus(
        str(inner.get("status", "")),
        int(counts.get("valid_count", 0)),
        int(counts.get("invalid_count", 0)),
        int(counts.get("completed_count", 0)),
        int(counts.get("failed_count", 0)),
    )
