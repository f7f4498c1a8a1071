"""A bare echo app on the emulator's server stack (Starlette on uvicorn, httptools, uvloop):
the same-run baseline of the emulator benchmarks.  It reads the body and answers it back,
with the Onfleet rate-limit headers, so it pays what any route pays and nothing more."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_HEADERS = {"X-RateLimit-Limit": "1000000", "X-RateLimit-Remaining": "1000000"}


async def _echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/json", headers=_HEADERS)


async def _health(request: Request) -> Response:
    return Response(b"{}", media_type="application/json")


def create_echo_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/echo", _echo, methods=["POST"]),
            Route("/healthz", _health, methods=["GET"]),
        ]
    )
