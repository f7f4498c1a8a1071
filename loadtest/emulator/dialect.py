"""Each provider's dialect: how it words an error, and which provider a request speaks to.

* :class:`Dialect` answers, for one provider, everything that is the same question asked
  in each provider's words: the error body (and response), bad JSON, a validation error,
  a bad query parameter, an unknown id, an unknown route (404), a wrong method (405), a
  missing or wrong credential (401, and how the credential is read), an over-size body
  (413) and the rate limit (429).  Its flags say which middleware apply to it.
* One instance per provider (:data:`ONFLEET`, :data:`NASH`, :data:`DEFTSHIP`,
  :data:`HYPERTRACK`), plus three that speak Onfleet's shape for the emulator's own
  paths: the driver app (:data:`DRIVER_APP`, authenticated but outside the
  organisation's budget and never faulted), the open paths (:data:`OPEN`) and every
  other path (:data:`EMULATOR`).
* :func:`resolve` maps a path to its dialect.  ``DialectMiddleware`` calls it once per
  request and keeps the answer in ``scope["fleetsim.dialect"]``; middleware and
  exception handlers read it back with :func:`dialect_of`.

The emulator's own answers that every provider shares (404, 405, 413, 5xx) carry
Onfleet's subcodes; the other shapes have no place for them and drop them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import MutableMapping
from http import HTTPStatus
from typing import Any

import orjson
from starlette.responses import Response

from loadtest.emulator.errors import JSON, ApiError
from loadtest.emulator.ids import request_id
from loadtest.providers import deftship, hypertrack, nash, onfleet

SCOPE_KEY = "fleetsim.dialect"

# Paths with no provider behind them: no auth, no limits, no faults, no latency.
OPEN_PATHS = frozenset({"/", "/openapi.json", "/metrics", "/healthz"})


def _basic(value: str) -> tuple[str, str] | None:
    """``(user, password)`` of a Basic credential, or None."""
    if value[:6].lower() != "basic ":
        return None
    try:
        raw = base64.b64decode(value[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, _, password = raw.partition(":")
    return user, password


def _bearer(value: str) -> tuple[str, ...]:
    return (value[7:].strip(),) if value[:7].lower() == "bearer " else ()


class Dialect:
    """How one provider answers (see the module docstring).

    ``authenticates``: the request needs a credential.  ``limited``: it counts against
    the organisation's rate budget (where one is configured).  ``faulted``: fault
    injection may answer it.  ``rate_headers``: every answer carries Onfleet's
    ``X-RateLimit-*`` headers.
    """

    rate_headers = False

    def __init__(
        self, name: str, *, authenticates: bool = True, limited: bool = True, faulted: bool = True
    ) -> None:
        self.name = name
        self.authenticates = authenticates
        self.limited = limited
        self.faulted = faulted

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    # -- rendering ---------------------------------------------------------------------
    def body(self, exc: ApiError, client_ip: str, rid: str | None) -> Any:
        """The JSON body for ``exc``; ``rid`` is the request id to report (a new one when
        not given)."""
        raise NotImplementedError

    def response(self, exc: ApiError, client_ip: str = "127.0.0.1") -> Response:
        """``exc`` as this provider's HTTP answer."""
        return Response(
            orjson.dumps(self.body(exc, client_ip, None)),
            status_code=exc.status,
            media_type=JSON,
            headers=dict(exc.headers),
        )

    # -- the answers every provider words its own way -----------------------------------
    def invalid(
        self,
        message: str,
        field: str | None = None,
        *,
        location: str = "body",
        errors: dict[str, list[str]] | None = None,
        code: str | None = None,
    ) -> ApiError:
        """A validation error (422, or Onfleet's 400).  ``field`` names the offending field
        (``location`` says where: ``body`` or ``query``) for a shape that reports per field;
        ``errors`` maps fields to reasons for one that lists several; ``code`` is Nash's."""
        raise NotImplementedError

    def bad_json(self, why: str) -> ApiError:
        """The answer to a body that is not the JSON the route expects."""
        return self.invalid(why, "__root__")

    def invalid_param(self, name: str, minimum: int) -> ApiError:
        """The answer to a query parameter that is not an integer >= ``minimum``."""
        return self.invalid(f"{name} must be an integer >= {minimum}")

    def not_found(self, what: str) -> ApiError:
        """The answer for an unknown id (``what`` names it, e.g. ``"task abc"``)."""
        return ApiError(404, f"{what} not found.")

    def credentials(self, authorization: str) -> tuple[str, ...]:
        """The keys an ``Authorization`` header offers (any one accepted key admits)."""
        return _bearer(authorization)

    def unauthorized(self) -> ApiError:
        raise NotImplementedError

    def too_many_requests(self, limit: int) -> ApiError:
        """The 429 for a request over the budget of ``limit`` requests per window."""
        return ApiError(429, "Too many requests; slow down.", headers={"Retry-After": "1"})

    # -- the emulator's own answers, the same for every provider --------------------------
    def no_route(self, path: str) -> ApiError:
        return ApiError(
            404, onfleet.MSG_NOT_FOUND, error=onfleet.E_NOT_FOUND, cause=f"no route {path}"
        )

    def method_not_allowed(self, method: str, headers: dict[str, str]) -> ApiError:
        return ApiError(
            405,
            f"Method {method} is not allowed on this route.",
            error=onfleet.E_METHOD,
            headers=headers,
        )

    def too_large(self, max_bytes: int) -> ApiError:
        # No ``code``: each provider's own table names the 413 (Onfleet ``PayloadTooLarge``,
        # Nash ``VALIDATION_ERRORS``).
        return ApiError(
            413,
            f"The request body is larger than the {max_bytes / (1024 * 1024):g} MiB limit.",
            error=onfleet.E_FILE_TOO_LARGE,
            cause="Split the request (for tasks: at most 500 per batch).",
        )


class OnfleetDialect(Dialect):
    """``{code, message: {error, message, cause, request, remoteAddress}}``; Basic auth
    with the key as the user name (the password is ignored)."""

    rate_headers = True

    def body(self, exc: ApiError, client_ip: str, rid: str | None) -> Any:
        s = exc.status
        return {
            "code": exc.code
            or onfleet.ERROR_NAMES.get(s, "InternalServerError" if s >= 500 else "InvalidContent"),
            "message": {
                "error": exc.error if exc.error is not None else onfleet.E_INVALID_VALUES,
                "message": exc.message,
                "cause": exc.cause,
                "request": rid or request_id(),
                "remoteAddress": client_ip,
            },
        }

    def invalid(
        self,
        message: str,
        field: str | None = None,
        *,
        location: str = "body",
        errors: dict[str, list[str]] | None = None,
        code: str | None = None,
    ) -> ApiError:
        return ApiError(
            400, onfleet.MSG_INVALID_VALUES, error=onfleet.E_INVALID_VALUES, cause=message
        )

    def bad_json(self, why: str) -> ApiError:
        return ApiError(400, onfleet.MSG_INVALID_VALUES, error=onfleet.E_WRONG_TYPES, cause=why)

    def not_found(self, what: str) -> ApiError:
        return ApiError(404, onfleet.MSG_NOT_FOUND, error=onfleet.E_NOT_FOUND, cause=what)

    def credentials(self, authorization: str) -> tuple[str, ...]:
        creds = _basic(authorization)
        return (creds[0],) if creds is not None else ()

    def unauthorized(self) -> ApiError:
        return ApiError(
            401,
            "Invalid API key.",
            error=onfleet.E_KEY_INVALID,
            code="InvalidCredentials",
            cause="The API key given as the Basic user name is not valid.",
        )

    def too_many_requests(self, limit: int) -> ApiError:
        return ApiError(
            429,
            onfleet.MSG_RATE_LIMIT,
            error=onfleet.E_RATE_LIMIT,
            cause="More than the allowed requests per second.",
            headers={
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": "0",
                "Retry-After": "1",
            },
        )


class NashDialect(Dialect):
    """An array of ``{error: {code, message, details?}, response_status, RequestID}``, the
    id repeated in ``X-REQUEST-ID``; a Bearer token."""

    def body(self, exc: ApiError, client_ip: str, rid: str | None) -> Any:
        s = exc.status
        err: dict[str, Any] = {
            "code": exc.code
            or nash.ERROR_CODES.get(s, nash.E_INTERNAL if s >= 500 else nash.E_VALIDATION),
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

    def response(self, exc: ApiError, client_ip: str = "127.0.0.1") -> Response:
        headers = dict(exc.headers)
        # One id for the header and the body's RequestID (API-NOTES §2: "the ID is also
        # sent in the X-REQUEST-ID header").
        rid = headers.setdefault("X-REQUEST-ID", request_id())
        return Response(
            orjson.dumps(self.body(exc, client_ip, rid)),
            status_code=exc.status,
            media_type=JSON,
            headers=headers,
        )

    def invalid(
        self,
        message: str,
        field: str | None = None,
        *,
        location: str = "body",
        errors: dict[str, list[str]] | None = None,
        code: str | None = None,
    ) -> ApiError:
        return ApiError(422, message, code=code or nash.E_VALIDATION, detail=errors)

    def not_found(self, what: str) -> ApiError:
        return ApiError(404, f"{what} not found.", code=nash.E_MISSING_RESOURCE)

    def unauthorized(self) -> ApiError:
        return ApiError(401, "Invalid or missing bearer token.", code=nash.E_UNAUTHORIZED)

    def too_many_requests(self, limit: int) -> ApiError:
        return ApiError(
            429,
            "Too many requests; slow down.",
            code=nash.E_TOO_MANY_REQUESTS,
            headers={"Retry-After": "1"},
        )


class DeftshipDialect(Dialect):
    """Laravel's ``{success: false, message, data?}`` (``data.errors`` per field); a
    Bearer token."""

    def body(self, exc: ApiError, client_ip: str, rid: str | None) -> Any:
        body: dict[str, Any] = {"success": False, "message": exc.message}
        if exc.data is not None:
            body["data"] = exc.data
        return body

    def invalid(
        self,
        message: str,
        field: str | None = None,
        *,
        location: str = "body",
        errors: dict[str, list[str]] | None = None,
        code: str | None = None,
    ) -> ApiError:
        return ApiError(422, message, data={"errors": errors} if errors else None)

    def unauthorized(self) -> ApiError:
        return ApiError(401, deftship.MSG_UNAUTHENTICATED)


class HyperTrackDialect(Dialect):
    """``{detail: {location: {field: [reason]}}, message}``; Basic ``AccountID:SecretKey``
    where the secret must be an accepted key (the account id is free) [inf]."""

    def body(self, exc: ApiError, client_ip: str, rid: str | None) -> Any:
        return {"detail": exc.detail if exc.detail is not None else {}, "message": exc.message}

    def invalid(
        self,
        message: str,
        field: str | None = None,
        *,
        location: str = "body",
        errors: dict[str, list[str]] | None = None,
        code: str | None = None,
    ) -> ApiError:
        detail = errors if errors else {field or "__root__": [message]}
        return ApiError(422, hypertrack.MSG_VALIDATION, detail={location: detail})

    def invalid_param(self, name: str, minimum: int) -> ApiError:
        return self.invalid(f"must be an integer >= {minimum}", name, location="query")

    def not_found(self, what: str) -> ApiError:
        return ApiError(404, f"{what} not found")

    def credentials(self, authorization: str) -> tuple[str, ...]:
        creds = _basic(authorization)
        return (creds[1], creds[0]) if creds is not None else ()

    def unauthorized(self) -> ApiError:
        return ApiError(401, "Unauthorized: send Basic AccountID:SecretKey.")


ONFLEET = OnfleetDialect("onfleet")
NASH = NashDialect("nash")
DEFTSHIP = DeftshipDialect("deftship")
HYPERTRACK = HyperTrackDialect("hypertrack")
# The driver app stands in for the drivers' phones: Onfleet's key, but not the
# organisation's API budget, and never faulted.
DRIVER_APP = OnfleetDialect("driver", limited=False, faulted=False)
OPEN = OnfleetDialect("open", authenticates=False, limited=False, faulted=False)
EMULATOR = OnfleetDialect("emulator", authenticates=False, limited=False)

PROVIDERS = (ONFLEET, NASH, DEFTSHIP, HYPERTRACK)


def resolve(path: str) -> Dialect:
    """The dialect that owns ``path`` (by its base path; the hot Onfleet one first)."""
    if path.startswith(onfleet.BASE_PATH):
        return ONFLEET
    if path.startswith(nash.BASE_PATH):
        return NASH
    if path.startswith(deftship.BASE_PATH):
        return DEFTSHIP
    if path.startswith(hypertrack.BASE_PATH):
        return HYPERTRACK
    if path.startswith("/emulator/"):
        return DRIVER_APP
    if path in OPEN_PATHS:
        return OPEN
    return EMULATOR


def dialect_of(scope: MutableMapping[str, Any]) -> Dialect:
    """The request's dialect, as ``DialectMiddleware`` resolved it (resolved here only
    for an app assembled without that middleware)."""
    d = scope.get(SCOPE_KEY)
    if isinstance(d, Dialect):
        return d
    return resolve(scope.get("path", ""))
