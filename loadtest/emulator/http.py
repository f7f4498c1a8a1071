"""Small helpers every provider's routes share: JSON in, JSON out.  A body or query
parameter that does not parse gets the request's dialect's own 4xx.

The nesting bound: a body nested deeper than :data:`MAX_JSON_DEPTH` is refused at the edge
(:func:`read_json`), because orjson decodes deeper documents than it can encode, and a
stored record that cannot be encoded breaks every later listing that includes it.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from loadtest.emulator.dialect import dialect_of
from loadtest.emulator.errors import JSON

#: The deepest body accepted: arrays and objects nested inside one another, the body itself
#: counting as 1.  No provider documents a limit; real payloads stay under 10 levels.
MAX_JSON_DEPTH = 64


def _encoder_depth_limit() -> int:
    """The deepest nesting ``orjson.dumps`` encodes (255 in orjson 3.x), found once."""
    lo, hi = 1, 4096
    while lo < hi:  # the deepest n that encodes
        mid = (lo + hi + 1) // 2
        try:
            orjson.dumps(_nest(None, mid))
            lo = mid
        except orjson.JSONEncodeError:
            hi = mid - 1
    return lo


def _nest(obj: Any, levels: int) -> Any:
    for _ in range(levels):
        obj = [obj]
    return obj


# A record nests a free-form value a few levels below its place in the request, and a
# listing nests the record a few more; the headroom keeps everything accepted encodable.
_HEADROOM = _encoder_depth_limit() - MAX_JSON_DEPTH
assert _HEADROOM >= 32, "orjson encodes too shallow a nesting for MAX_JSON_DEPTH"


def too_deep(body: bytes, obj: Any) -> bool:
    """True when the decoded ``obj`` nests more than :data:`MAX_JSON_DEPTH` levels.

    A body with fewer brackets than the bound cannot exceed it (two C-speed counts, the
    common case); otherwise orjson itself checks, encoding ``obj`` wrapped in
    ``_HEADROOM`` lists, which fails exactly when ``obj`` is deeper than the bound.  That is
    several times cheaper than walking the document in Python.
    """
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False
    try:
        orjson.dumps(_nest(obj, _HEADROOM))
    except orjson.JSONEncodeError:
        return True
    return False


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
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise dialect_of(request.scope).bad_json(
            f"The request body is not valid JSON: {exc}"
        ) from None
    if too_deep(body, obj):
        raise dialect_of(request.scope).bad_json(
            f"The request body nests arrays and objects more than {MAX_JSON_DEPTH} levels "
            f"deep; flatten it to at most {MAX_JSON_DEPTH} levels."
        )
    return obj


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
