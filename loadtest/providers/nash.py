"""Nash (usenash.com) batch jobs: request bodies, constants and builders (API-NOTES §2)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

BASE_PATH = "/v1"
RATE_LIMIT_PER_S = 20  # per organisation (API-NOTES §2)
# A batch job's ``type``, inferred from the contacts its packages share.
SINGLE_PICKUP = "SINGLE_PICKUP_MULTIPLE_DROPOFFS"
SINGLE_DROPOFF = "MULTIPLE_PICKUPS_SINGLE_DROPOFF"
MULTIPLE = "MULTIPLE_PICKUPS_MULTIPLE_DROPOFFS"
MAX_NAME = 80
# Packages per batch job.  Nash publishes no limit [inf]: the emulator's, so that one
# request stays under 50 ms of event-loop time (a 250-package job: 25-30 ms in-process on a
# loaded 2-core machine; 26k packages held the loop 1.5 s).
MAX_PACKAGES = 250
MAX_INSTRUCTIONS = 280

# Error codes (API-NOTES §2): ``error.code`` of an error body.
E_VALIDATION = "VALIDATION_ERRORS"
E_INVALID_ADDRESS = "INVALID_ADDRESS"
E_INVALID_PHONE = "INVALID_PHONE_NUMBER"
E_INVALID_TIME = "INVALID_TIME_CONSTRAINT"
E_UNAUTHORIZED = "UNAUTHORIZED"
E_FORBIDDEN = "FORBIDDEN"
E_MISSING_RESOURCE = "MISSING_RESOURCE"
E_DISALLOWED = "DISALLOWED_OPERATION"
E_INVALID_STATE = "INVALID_STATE_TRANSITION"
E_TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"
E_INTERNAL = "INTERNAL_SERVER_ERROR"

#: The error code by HTTP status when an answer names none (413 is a validation error).
ERROR_CODES = {
    400: E_VALIDATION,
    401: E_UNAUTHORIZED,
    403: E_FORBIDDEN,
    404: E_MISSING_RESOURCE,
    405: E_DISALLOWED,
    409: E_INVALID_STATE,
    413: E_VALIDATION,
    422: E_VALIDATION,
    429: E_TOO_MANY_REQUESTS,
    500: E_INTERNAL,
    503: E_INTERNAL,
}


class Package(BaseModel):
    """One package of a batch job (the ``pickup*`` / ``dropoff*`` fields of the spec)."""

    model_config = ConfigDict(extra="allow")
    packageDeliveryMode: Literal["now", "scheduled"]
    pickupAddress: str | None = None
    pickupLatitude: float | None = None
    pickupLongitude: float | None = None
    pickupBusinessName: str | None = Field(default=None, max_length=MAX_NAME)
    pickupFirstName: str | None = Field(default=None, max_length=MAX_NAME)
    pickupLastName: str | None = Field(default=None, max_length=MAX_NAME)
    pickupPhoneNumber: str | None = None
    pickupInstructions: str | None = Field(default=None, max_length=MAX_INSTRUCTIONS)
    dropoffAddress: str | None = None
    dropoffLatitude: float | None = None
    dropoffLongitude: float | None = None
    dropoffBusinessName: str | None = Field(default=None, max_length=MAX_NAME)
    dropoffFirstName: str | None = Field(default=None, max_length=MAX_NAME)
    dropoffLastName: str | None = Field(default=None, max_length=MAX_NAME)
    dropoffPhoneNumber: str | None = None
    dropoffInstructions: str | None = Field(default=None, max_length=MAX_INSTRUCTIONS)
    packagePickupStartTime: str | None = None
    packagePickupEndTime: str | None = None
    packageDropoffStartTime: str | None = None
    packageDropoffEndTime: str | None = None
    packageValueCents: int | None = None
    tipAmountCents: int | None = None
    itemsCount: int | None = None
    packageExternalIdentifier: str | None = None


class BatchJobCreate(BaseModel):
    """Body of POST /v1/batch_job: more than one package."""

    model_config = ConfigDict(extra="allow")
    packages: list[Package] = Field(min_length=2)
    externalIdentifier: str | None = None
    jobMetadata: dict[str, Any] | None = None
    optionsGroupId: str | None = None
    inputDatetimesLocalizedToPickupTz: bool = False


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


def auth_headers(api_key: str, org_id: str | None = None) -> dict[str, str]:
    """Request headers for a Nash key (Bearer) and, when given, the organisation."""
    h = {"Authorization": f"Bearer {api_key}"}
    if org_id is not None:
        h["Nash-Org-Id"] = org_id
    return h


# -- the job lifecycle (select_quote, autodispatch, cancel, PATCH; API-NOTES §2) ----------
E_NO_VALID_QUOTES = "NO_VALID_QUOTES"
E_AUTODISPATCH = "AUTODISPATCH_FAILURE"
#: A delivery's statuses in order (DeliveryStatusUpdateValue), and its other final ones.
DELIVERY_STATUSES = (
    "not_assigned_driver",
    "assigned_driver",
    "pickup_enroute",
    "pickup_arrived",
    "pickup_complete",
    "dropoff_enroute",
    "dropoff_arrived",
    "dropoff_complete",
)
DELIVERY_FAILED = "failed"
DELIVERY_CANCELED = "canceled_by_customer"  # [inf] the task event's name, on the delivery too
DELIVERY_FINAL = (
    "dropoff_complete",
    DELIVERY_FAILED,
    "canceled_by_provider",
    "returned_to_store",
    DELIVERY_CANCELED,
)
#: A task's statuses (the task events): created, then running once a quote is selected.
TASK_CREATED = "created"
TASK_RUNNING = "running"
TASK_COMPLETED = "completed"
TASK_FAILED = "failed"
TASK_CANCELED = "canceled_by_customer"
# Payload caps [inf] (Nash publishes none): one package's JSON and a job's jobMetadata.
# Past them a batch_job (or a PATCH) is a 422 VALIDATION_ERRORS naming the package.
MAX_PACKAGE_BYTES = 16 * 1024
MAX_METADATA_BYTES = 16 * 1024


class SelectQuote(BaseModel):
    """Body of POST /v1/select_quote."""

    model_config = ConfigDict(extra="allow")
    quoteId: str = Field(min_length=1)


class PackagePatch(BaseModel):
    """Body of PATCH /v1/jobs/{jobId}/{cfgId}: package fields to change (as in
    :class:`Package`, every one optional)."""

    model_config = ConfigDict(extra="allow")
    packageDeliveryMode: Literal["now", "scheduled"] | None = None
    pickupAddress: str | None = None
    pickupLatitude: float | None = None
    pickupLongitude: float | None = None
    pickupPhoneNumber: str | None = None
    pickupInstructions: str | None = Field(default=None, max_length=MAX_INSTRUCTIONS)
    dropoffAddress: str | None = None
    dropoffLatitude: float | None = None
    dropoffLongitude: float | None = None
    dropoffPhoneNumber: str | None = None
    dropoffInstructions: str | None = Field(default=None, max_length=MAX_INSTRUCTIONS)
    packageValueCents: int | None = None
    tipAmountCents: int | None = None
    itemsCount: int | None = None


class JobOut(BaseModel):
    """A job as GET /v1/jobs/{id} (and every lifecycle call) answers it."""

    model_config = ConfigDict(extra="allow")
    id: str
    createdAt: str
    isActive: bool
    isBatch: bool
    jobConfigurations: list[dict[str, Any]]
    batch: dict[str, Any]
