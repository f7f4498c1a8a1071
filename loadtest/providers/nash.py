"""Nash (usenash.com) batch jobs: request bodies, constants and builders (API-NOTES §2)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

BASE_PATH = "/v1"
BATCH_TYPES = (
    "SINGLE_PICKUP_MULTIPLE_DROPOFFS",
    "MULTIPLE_PICKUPS_SINGLE_DROPOFF",
    "MULTIPLE_PICKUPS_MULTIPLE_DROPOFFS",
)
MAX_NAME = 80
MAX_INSTRUCTIONS = 280


class Package(BaseModel):
    """One package of a batch job (the ``pickup*`` / ``dropoff*`` fields of the spec)."""

    model_config = ConfigDict(extra="allow")
    packageDeliveryMode: Literal["now", "scheduled"]  # noqa: N815
    pickupAddress: str | None = None  # noqa: N815
    pickupLatitude: float | None = None  # noqa: N815
    pickupLongitude: float | None = None  # noqa: N815
    pickupBusinessName: str | None = Field(default=None, max_length=MAX_NAME)  # noqa: N815
    pickupFirstName: str | None = Field(default=None, max_length=MAX_NAME)  # noqa: N815
    pickupLastName: str | None = Field(default=None, max_length=MAX_NAME)  # noqa: N815
    pickupPhoneNumber: str | None = None  # noqa: N815
    pickupInstructions: str | None = Field(default=None, max_length=MAX_INSTRUCTIONS)  # noqa: N815
    dropoffAddress: str | None = None  # noqa: N815
    dropoffLatitude: float | None = None  # noqa: N815
    dropoffLongitude: float | None = None  # noqa: N815
    dropoffBusinessName: str | None = Field(default=None, max_length=MAX_NAME)  # noqa: N815
    dropoffFirstName: str | None = Field(default=None, max_length=MAX_NAME)  # noqa: N815
    dropoffLastName: str | None = Field(default=None, max_length=MAX_NAME)  # noqa: N815
    dropoffPhoneNumber: str | None = None  # noqa: N815
    dropoffInstructions: str | None = Field(default=None, max_length=MAX_INSTRUCTIONS)  # noqa: N815
    packagePickupStartTime: str | None = None  # noqa: N815
    packagePickupEndTime: str | None = None  # noqa: N815
    packageDropoffStartTime: str | None = None  # noqa: N815
    packageDropoffEndTime: str | None = None  # noqa: N815
    packageValueCents: int | None = None  # noqa: N815
    tipAmountCents: int | None = None  # noqa: N815
    itemsCount: int | None = None  # noqa: N815
    packageExternalIdentifier: str | None = None  # noqa: N815


class BatchJobCreate(BaseModel):
    """Body of POST /v1/batch_job: more than one package."""

    model_config = ConfigDict(extra="allow")
    packages: list[Package] = Field(min_length=2)
    externalIdentifier: str | None = None  # noqa: N815
    jobMetadata: dict[str, Any] | None = None  # noqa: N815
    optionsGroupId: str | None = None  # noqa: N815
    inputDatetimesLocalizedToPickupTz: bool = False  # noqa: N815


def package_body(
    pickup: tuple[float, float],
    dropoff: tuple[float, float],
    *,
    pickup_name: str = "Store",
    pickup_phone: str = "+15555550100",
    dropoff_name: str = "Customer",
    dropoff_phone: str = "+15555550101",
    mode: Literal["now", "scheduled"] = "now",
) -> dict[str, Any]:
    """A package with coordinates on both sides (lat, lon)."""
    return {
        "packageDeliveryMode": mode,
        "pickupLatitude": pickup[0],
        "pickupLongitude": pickup[1],
        "pickupBusinessName": pickup_name,
        "pickupPhoneNumber": pickup_phone,
        "dropoffLatitude": dropoff[0],
        "dropoffLongitude": dropoff[1],
        "dropoffFirstName": dropoff_name,
        "dropoffPhoneNumber": dropoff_phone,
    }


def batch_job_body(
    packages: list[dict[str, Any]], external_id: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"packages": packages}
    if external_id is not None:
        body["externalIdentifier"] = external_id
    return body


def bearer_header(api_key: str) -> str:
    return f"Bearer {api_key}"
