"""Small helpers every provider's routes share: JSON in, JSON out."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from loadtest.emulator.errors import JSON, ApiError, Provider


def ok(obj: Any, status: int = 200) -> Response:
    """A JSON response (orjson; the hot paths build bytes elsewhere)."""
    return Response(orjson.dumps(obj), status_code=status, media_type=JSON)


def raw_json(data: bytes, status: int = 200) -> Response:
    return Response(data, status_code=status, media_type=JSON)


def empty(status: int = 200) -> Response:
    """Onfleet's 200-with-empty-body answer (complete, delete)."""
    return Response(b"", status_code=status)


def bad_json(provider: Provider, why: str) -> ApiError:
    """The provider's answer to a body that is not the JSON it expects."""
    if provider == "onfleet":
        return ApiError(
            400, "The values of one or more parameters are invalid.", error=1005, cause=why
        )
    if provider == "nash":
        return ApiError(422, why, code="VALIDATION_ERRORS")
    if provider == "hypertrack":
        return ApiError(422, "Validation error", detail={"body": {"__root__": [why]}})
    return ApiError(422, why)


async def read_json(request: Request, provider: Provider, *, allow_empty: bool = False) -> Any:
    """The parsed body, or the provider's 4xx for invalid JSON."""
    body = await request.body()
    if not body.strip():
        if allow_empty:
            return {}
        raise bad_json(provider, "The request body is empty; a JSON object is expected.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_json(provider, f"The request body is not valid JSON: {exc}") from None


def int_param(raw: str | None, name: str, provider: Provider, *, minimum: int = 0) -> int | None:
    """An optional integer query parameter, or the provider's 4xx."""
    if raw is None or raw == "":
        return None
    try:
        v = int(raw)
    except ValueError:
        v = minimum - 1
    if v < minimum or v > 2**53:
        if provider == "onfleet":
            raise ApiError(
                400,
                "The values of one or more parameters are invalid.",
                error=1000,
                cause=f"{name} must be an integer >= {minimum}",
            )
        if provider == "hypertrack":
            raise ApiError(
                422,
                "Validation error",
                detail={"query": {name: [f"must be an integer >= {minimum}"]}},
            )
        raise ApiError(422, f"{name} must be an integer >= {minimum}")
    return v
