"""The registration routes' request bodies as pydantic models, and their OpenAPI
operations (``loadtest.emulator.openapi`` appends :data:`OPERATIONS` to its own), so the
document, the fuzz tests and the routes agree on one definition.  Model names are the
engine's own, so a second definition of the same routes elsewhere cannot collide in
``components.schemas``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, RootModel

from loadtest.providers.onfleet import BASE_PATH, CONTROL_PATH


class OnfleetWebhookBody(BaseModel):
    """Body of Onfleet's POST /webhooks (``threshold`` only for triggers 1 and 2)."""

    url: str
    name: str = Field(default="", max_length=200)
    trigger: int
    threshold: float | None = Field(default=None, gt=0)


class EndpointBody(BaseModel):
    """Body of POST /emulator/v1/webhooks: a Nash or HyperTrack endpoint (every event
    when ``events`` is omitted)."""

    provider: Literal["nash", "hypertrack"]
    url: str
    events: list[str] | None = None


class EmitEvent(BaseModel):
    """Body of POST /emulator/v1/webhooks/emit: one event through the outbox."""

    provider: Literal["onfleet", "nash", "hypertrack"]
    name: str = Field(min_length=1)
    subject: str = "test"
    body: Any
    measure: float | None = None


# -- what the routes answer (the document's response schemas) -------------------------
class OnfleetWebhookOut(BaseModel):
    id: str = Field(min_length=1)
    name: str
    url: str
    trigger: int | None
    threshold: float | None
    count: int = Field(ge=0)
    isEnabled: bool


class OnfleetWebhookList(RootModel[list[OnfleetWebhookOut]]):
    pass


class EndpointOut(BaseModel):
    """An emulator-registered Nash or HyperTrack endpoint (with its signing secret)."""

    id: str = Field(min_length=1)
    provider: str
    url: str
    events: list[str] | None
    source: str
    count: int = Field(ge=0)
    secret: str | None


class EndpointList(RootModel[list[EndpointOut]]):
    pass


class EmitResult(BaseModel):
    deliveries: int = Field(ge=0)


# (method, path, provider, summary, body model, query parameters), as in openapi.py.
Op = tuple[str, str, str, str, type[BaseModel] | None, tuple[tuple[str, str, bool], ...]]

#: The registration routes.
REGISTRATION_OPERATIONS: tuple[Op, ...] = (
    (
        "post",
        f"{BASE_PATH}/webhooks",
        "onfleet",
        "Create a webhook (?check handshake)",
        OnfleetWebhookBody,
        (),
    ),
    ("get", f"{BASE_PATH}/webhooks", "onfleet", "List webhooks", None, ()),
    ("delete", f"{BASE_PATH}/webhooks/{{id}}", "onfleet", "Delete a webhook", None, ()),
    (
        "post",
        f"{CONTROL_PATH}/webhooks",
        "onfleet",
        "Register a Nash or HyperTrack endpoint (emulator-only)",
        EndpointBody,
        (),
    ),
    ("get", f"{CONTROL_PATH}/webhooks", "onfleet", "List endpoints (emulator-only)", None, ()),
    (
        "delete",
        f"{CONTROL_PATH}/webhooks/{{id}}",
        "onfleet",
        "Remove an endpoint (emulator-only)",
        None,
        (),
    ),
)
#: The test-event route.
EMIT_OPERATIONS: tuple[Op, ...] = (
    (
        "post",
        f"{CONTROL_PATH}/webhooks/emit",
        "onfleet",
        "Send a test event (emulator-only)",
        EmitEvent,
        (),
    ),
)
OPERATIONS: tuple[Op, ...] = (*REGISTRATION_OPERATIONS, *EMIT_OPERATIONS)

#: Each operation's 2xx body (None: an empty body), for the document.
RESPONSES: dict[tuple[str, str], type[BaseModel] | None] = {
    ("post", f"{BASE_PATH}/webhooks"): OnfleetWebhookOut,
    ("get", f"{BASE_PATH}/webhooks"): OnfleetWebhookList,
    ("delete", f"{BASE_PATH}/webhooks/{{id}}"): None,
    ("post", f"{CONTROL_PATH}/webhooks"): EndpointOut,
    ("get", f"{CONTROL_PATH}/webhooks"): EndpointList,
    ("delete", f"{CONTROL_PATH}/webhooks/{{id}}"): None,
    ("post", f"{CONTROL_PATH}/webhooks/emit"): EmitResult,
}
#: The success status where it is not 200.
STATUS: dict[tuple[str, str], int] = {("post", f"{CONTROL_PATH}/webhooks/emit"): 202}
