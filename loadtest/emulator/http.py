"""Small helpers every provider's routes share: JSON in, JSON out.  A body or query
parameter that does not parse gets the request's dialect's own 4xx."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from loadtest.emulator.dialect import dialect_of
from loadtest.emulator.errors import JSON


def ok(obj: Any, status: int = 200) -> Response:
    """A JSON response (orjson; the hot paths build bytes elsewhere)."""
    return Response(orjson.dumps(obj), status_code=status, media_type=JSON)


def raw_json(data: bytes, status: int = 200) -> Response:
    return Response(data, status_code=status, media_type=JSON)


def empty(status: int = 200) -> Response:
    """Onfleet's 200-with-empty-body answer (complete, delete)."""
    return Response(b"", status_code=status)


async def read_json(request: Request, *, allow_empty: bool = False) -> Any:
    """The parsed body, or the provider's 4xx for invalid JSON."""
    body = await request.body()
    if not body.strip():
        if allow_empty:
            return {}
        raise dialect_of(request.scope).bad_json(
            "The request body is empty; a JSON object is expected."
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise dialect_of(request.scope).bad_json(
            f"The request body is not valid JSON: {exc}"
        ) from None


def query_int(request: Request, name: str, *, minimum: int = 0) -> int | None:
    """The optional integer query parameter ``name``, or the provider's 4xx."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        v = int(raw)
    except ValueError:
        v = minimum - 1
    if v < minimum or v > 2**53:
        raise dialect_of(request.scope).invalid_param(name, minimum)
    return v
