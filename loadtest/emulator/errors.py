"""Each provider's own error body, and the exception handlers share one renderer.

Handlers raise :class:`ApiError` (a provider, an HTTP status, a code and a message); the
app turns it into the provider's shape.  Which provider answers is decided by the path
prefix, so middleware (auth, rate limit, body cap, faults) and routing errors (404, 405)
answer in the same shape as the handlers do.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Literal

import orjson
from starlette.responses import Response

from loadtest.emulator.ids import request_id

Provider = Literal["onfleet", "nash", "deftship", "hypertrack", "emulator"]

JSON = "application/json; charset=utf-8"


def provider_for(path: str) -> Provider:
    """Which provider owns ``path`` (decides the error shape)."""
    if path.startswith("/api/v2") or path.startswith("/emulator/"):
        return "onfleet"
    if path.startswith("/v1"):
        return "nash"
    if path.startswith("/api/batches"):
        return "deftship"
    if path.startswith("/orders"):
        return "hypertrack"
    return "emulator"


# Onfleet's names for the status classes (API-NOTES §1.2; the 404/405/412/413 [inf]).
_ONFLEET_CODE = {
    400: "InvalidContent",
    401: "InvalidCredentials",
    404: "ResourceNotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    412: "PreconditionFailed",
    413: "PayloadTooLarge",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
}
# Nash's error codes by status (API-NOTES §2).
_NASH_CODE = {
    400: "VALIDATION_ERRORS",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "MISSING_RESOURCE",
    405: "DISALLOWED_OPERATION",
    409: "INVALID_STATE_TRANSITION",
    413: "VALIDATION_ERRORS",
    422: "VALIDATION_ERRORS",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    503: "INTERNAL_SERVER_ERROR",
}


class ApiError(Exception):
    """An error answer.  ``error`` is Onfleet's numeric subcode, ``code`` Nash's code,
    ``detail`` HyperTrack's per-field detail, ``data`` Deftship's payload."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error: int | None = None,
        cause: str | None = None,
        code: str | None = None,
        detail: dict[str, Any] | None = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error = error
        self.cause = cause
        self.code = code
        self.detail = detail
        self.data = data
        self.headers = headers or {}


def error_body(
    provider: Provider, exc: ApiError, client_ip: str = "127.0.0.1", rid: str | None = None
) -> Any:
    """The JSON body ``provider`` sends for ``exc``; ``rid`` is the request id to report
    (a new one when not given)."""
    s = exc.status
    fallback = s >= 500
    if provider in ("onfleet", "emulator"):
        return {
            "code": exc.code
            or _ONFLEET_CODE.get(s, "InternalServerError" if fallback else "InvalidContent"),
            "message": {
                "error": exc.error if exc.error is not None else 1000,
                "message": exc.message,
                "cause": exc.cause,
                "request": rid or request_id(),
                "remoteAddress": client_ip,
            },
        }
    if provider == "nash":
        err: dict[str, Any] = {
            "code": exc.code
            or _NASH_CODE.get(s, "INTERNAL_SERVER_ERROR" if fallback else "VALIDATION_ERRORS"),
            "message": exc.message,
        }
        if exc.detail is not None:
            err["details"] = exc.detail
        try:
            phrase = HTTPStatus(s).phrase.upper().replace(" ", "_")
        except ValueError:
            phrase = "ERROR"
        return [
            {"error": err, "response_status": f"{s} {phrase}", "RequestID": rid or request_id()}
        ]
    if provider == "deftship":
        body: dict[str, Any] = {"success": False, "message": exc.message}
        if exc.data is not None:
            body["data"] = exc.data
        return body
    return {"detail": exc.detail if exc.detail is not None else {}, "message": exc.message}


def error_response(provider: Provider, exc: ApiError, client_ip: str = "127.0.0.1") -> Response:
    headers = dict(exc.headers)
    rid = None
    if provider == "nash":
        # One id for the header and the body's RequestID (API-NOTES §2: "the ID is also
        # sent in the X-REQUEST-ID header").
        rid = headers.setdefault("X-REQUEST-ID", request_id())
    return Response(
        orjson.dumps(error_body(provider, exc, client_ip, rid)),
        status_code=exc.status,
        media_type=JSON,
        headers=headers,
    )


def not_found(provider: Provider, what: str) -> ApiError:
    """The provider's 'unknown id' answer."""
    if provider == "deftship":
        return ApiError(404, f"{what} not found.")
    if provider == "nash":
        return ApiError(404, f"{what} not found.", code="MISSING_RESOURCE")
    if provider == "hypertrack":
        return ApiError(404, f"{what} not found")
    return ApiError(404, "The requested resource does not exist.", error=1402, cause=what)
