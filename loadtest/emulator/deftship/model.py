"""Deftship's records: a :class:`Batch` of :class:`Item` shipments, and their JSON and
stored forms."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Item:
    """One shipment of a batch and its validation/shipping outcome."""

    id: str
    shipment: Any  # the shipment body as sent (validated asynchronously)
    status: str = "validating"
    errors: dict[str, list[str]] | None = None
    tracking_number: str | None = None

    def to_json(self) -> dict[str, Any]:
        order = (
            None if self.tracking_number is None else {"main_tracking_number": self.tracking_number}
        )
        return {
            "id": self.id,
            "status": self.status,
            "errors": self.errors,
            "shipment_order": order,
        }

    def to_record(self) -> dict[str, Any]:
        return {**self.to_json(), "shipment": self.shipment}

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Item:
        order = d["shipment_order"]
        return cls(
            d["id"],
            d["shipment"],
            d["status"],
            d["errors"],
            None if order is None else order["main_tracking_number"],
        )


@dataclass(slots=True)
class Batch:
    """A shipment batch.  ``gen`` counts validations, so a superseded one is ignored."""

    id: str
    service: str
    shipper_id: str
    items: list[Item] = field(default_factory=list)
    status: str = "validating"
    labels: list[str] | None = None  # present once shipping has started
    gen: int = 0

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "service": self.service,
            "shipper_id": self.shipper_id,
            "items": [i.to_record() for i in self.items],
            "status": self.status,
            "labels": self.labels,
            "gen": self.gen,
        }

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Batch:
        return cls(
            d["id"],
            d["service"],
            d["shipper_id"],
            [Item.from_record(i) for i in d["items"]],
            d["status"],
            d["labels"],
            d["gen"],
        )
