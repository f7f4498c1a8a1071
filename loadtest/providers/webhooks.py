"""Outgoing webhooks, as each provider puts them on the wire (API-NOTES §1.8, §2, §4).

What both ends share and nothing else: trigger ids and names, the signature of a delivery
and the header it travels in, the header that carries a delivery's stable id, each
provider's retry schedule and what counts as delivered, and which replayed call causes
which event.  The emulator sends with these; the trace writer predicts with them; the
replay's receiver verifies and matches with them.  No I/O here.

Choices where the public material is silent ([inf], documented in the emulator README):

* Onfleet's delivery id travels in ``X-Fleetsim-Delivery-Id`` (Onfleet documents none).
* HyperTrack's ``x-hypertrack-signature`` is the hex HMAC-SHA256 of the raw body.
* One webhook secret (hex) serves every provider: Onfleet keys HMAC-SHA512 with its bytes,
  HyperTrack HMAC-SHA256, and Nash's Svix signing secret is ``whsec_`` + base64 of them.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from typing import Final, Literal

Provider = Literal["onfleet", "nash", "hypertrack"]
PROVIDERS: Final[tuple[Provider, ...]] = ("onfleet", "nash", "hypertrack")

#: The emulator's and the replay's secret when neither ``--webhook-secret`` nor the
#: environment variable gives one.  Printed at start, like the demo API key.
DEMO_WEBHOOK_SECRET: Final = "f1ee751f" * 8
WEBHOOK_SECRET_ENV: Final = "FLEETSIM_WEBHOOK_SECRET"

# -- Onfleet (§1.8) -----------------------------------------------------------------------
ONFLEET_TRIGGERS: Final[Mapping[int, str]] = {
    0: "taskStarted",
    1: "taskEta",
    2: "taskArrival",
    3: "taskCompleted",
    4: "taskFailed",
    5: "workerDuty",
    6: "taskCreated",
    7: "taskUpdated",
    8: "taskDeleted",
    9: "taskAssigned",
    10: "taskUnassigned",
    12: "taskDelayed",
    13: "taskCloned",
    14: "smsRecipientResponseMissed",
    15: "workerCreated",
    16: "workerDeleted",
    17: "SMSRecipientOptOut",
    18: "autoDispatchJobCompleted",
    19: "taskBatchCreateJobCompleted",
    20: "routeOptimizationJobCompleted",
    22: "routePlanCreated",
    23: "routePlanStarted",
    24: "routePlanCompleted",
    25: "workerUpdated",
    26: "routePlanUpdated",
    27: "routePlanUnassigned",
    28: "routePlanAssigned",
    29: "routePlanDelayed",
    30: "predictedTaskDelay",
}
ONFLEET_TRIGGER_IDS: Final[Mapping[str, int]] = {v: k for k, v in ONFLEET_TRIGGERS.items()}
#: Triggers whose webhook needs a ``threshold``: taskEta (seconds), taskArrival (metres).
#: Each fires at most once per task, and at most 10 webhooks may use each.
THRESHOLD_TRIGGERS: Final = frozenset({1, 2})
MAX_THRESHOLD_WEBHOOKS: Final = 10
ONFLEET_SIGNATURE_HEADER: Final = "X-Onfleet-Signature"
ONFLEET_DELIVERY_ID_HEADER: Final = "X-Fleetsim-Delivery-Id"  # [inf]
#: The handshake: ``GET url?check=<random>``; the answer must be 200 with it echoed.
ONFLEET_CHECK_PARAM: Final = "check"
#: A failed handshake: 400 with this subcode (InvalidContentError).
ONFLEET_E_WEBHOOK_VALIDATION: Final = 1008
#: The replay registers taskEta and taskArrival with these thresholds, which every
#: simulated start and arrival meets, so the trace can predict both.
REPLAY_ETA_THRESHOLD_S: Final = 86_400
REPLAY_ARRIVAL_THRESHOLD_M: Final = 500


def onfleet_signature(secret_hex: str, body: bytes) -> str:
    """``X-Onfleet-Signature``: hex HMAC-SHA512 of the raw body keyed by the secret's bytes."""
    return hmac.digest(bytes.fromhex(secret_hex), body, "sha512").hex()  # one-shot: C fast path


# -- Nash (§2): Svix --------------------------------------------------------------------
NASH_HEADERS: Final = ("svix-id", "svix-timestamp", "svix-signature")
#: ``type`` of a Nash event body ``{type, event, data}``.
NASH_TYPES: Final = ("delivery", "task", "courier_location", "shift")


def nash_signing_secret(secret_hex: str) -> str:
    """The Svix signing secret (``whsec_…``) that Nash's deliveries are signed with."""
    return "whsec_" + base64.b64encode(bytes.fromhex(secret_hex)).decode()


# -- HyperTrack (§4) --------------------------------------------------------------------
HYPERTRACK_SIGNATURE_HEADER: Final = "x-hypertrack-signature"
HYPERTRACK_DELIVERY_ID_HEADER: Final = "x-amz-sns-message-id"
#: Order event ``data.value``s HyperTrack documents.
HYPERTRACK_ORDER_VALUES: Final = (
    "assigned",
    "started",
    "first_eta",
    "eta",
    "eta_change",
    "n_minutes_away",
    "device_switched",
    "disabled",
    "enabled",
    "updated",
    "delayed",
    "risk_updated",
    "arrived",
    "exited",
    "completed",
    "cancelled",
)


def hypertrack_signature(secret_hex: str, body: bytes) -> str:
    """``x-hypertrack-signature`` [inf]: hex HMAC-SHA256 of the raw body."""
    return hmac.digest(bytes.fromhex(secret_hex), body, "sha256").hex()


# -- Delivery: retry schedules, timeouts, what counts as delivered ------------------------
#: Seconds before each attempt after a failed one (the first attempt goes at once), at
#: time factor 1.  Onfleet: every 30 min for up to a day.  Nash (Svix): attempts
#: "immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h", each period counted from the
#: failure before it, so the first attempt is the immediate one and seven retries follow.
#: HyperTrack: three more, 20 s apart.
RETRY_DELAYS_S: Final[Mapping[Provider, tuple[float, ...]]] = {
    "onfleet": (1800.0,) * 48,
    "nash": (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0),
    "hypertrack": (20.0, 20.0, 20.0),
}
#: How long a receiver has to answer (HyperTrack documents 10 s; Svix uses 15 s; Onfleet
#: documents none [inf: 10 s]).
TIMEOUT_S: Final[Mapping[Provider, float]] = {"onfleet": 10.0, "nash": 15.0, "hypertrack": 10.0}
#: Nash (Svix) retries network errors, 5xx, 408, 409 and 429 only; other answers end it.
NASH_RETRIED_STATUSES: Final = frozenset({408, 409, 429})


def delivered(provider: Provider, status: int) -> bool | None:
    """True: delivered; False: retry; None: given up at once (not retried, not delivered).

    ``status`` is the receiver's HTTP status.  A timeout or refused connection is a retry
    for every provider and never reaches this function.
    """
    if 200 <= status < 300:
        return True
    if provider == "hypertrack":
        return 400 <= status < 500
    if provider == "nash":
        return False if status >= 500 or status in NASH_RETRIED_STATUSES else None
    return False


# -- Which replayed call causes which event -----------------------------------------------
#: For each trace operation, the events its success causes, in the order they fire.
#: Onfleet names are trigger names; ``task.complete`` causes taskCompleted or taskFailed
#: (by ``completionDetails.success``); ``driver.start`` causes taskEta only for a webhook
#: registered with :data:`REPLAY_ETA_THRESHOLD_S`, and ``driver.move`` taskArrival only
#: within the arrival threshold.  A task created already assigned (a container or a
#: successful autoAssign in the create) fires no taskAssigned; batch creations fire no
#: taskCreated; a container change fires taskAssigned/taskUnassigned and no taskUpdated.
#: Nash: ``"{type}.{event}"`` (``delivery.created``); HyperTrack: order ``value``s, one
#: event per order.
EVENTS_BY_OP: Final[Mapping[str, tuple[str, ...]]] = {
    "worker.create": ("workerCreated",),
    "task.create": ("taskCreated",),
    "task.batch": (),
    "task.batch_async": ("taskBatchCreateJobCompleted",),
    "task.set_dependencies": ("taskUpdated",),
    "task.assign": ("taskAssigned",),
    "task.unassign": ("taskUnassigned",),
    "driver.duty": ("workerDuty",),
    "driver.start": ("taskStarted", "taskEta"),
    "driver.move": ("taskArrival",),
    "task.complete": ("taskCompleted",),  # or taskFailed
    "task.delete": ("taskDeleted",),
    "nash.batch_job": ("delivery.created",),
    "order.track": ("assigned", "started"),
    "order.complete": ("completed",),
    "order.cancel": ("cancelled",),
}
