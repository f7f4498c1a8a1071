"""The emulator's app factory: ``create_app(config)`` returns one ASGI app serving
Onfleet (/api/v2), Nash (/v1), Deftship (/api/batches) and HyperTrack (/orders), the
driver-app control routes (/emulator/v1, with ``/emulator/v1/info``: time scale,
profile and version), ``/openapi.json`` and ``/metrics``.

Framework and server were chosen by measurement (see README.md in this package):
Starlette on uvicorn with httptools and uvloop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from loadtest.emulator.config import EmulatorConfig
from loadtest.emulator.deftship.routes import DeftshipApi
from loadtest.emulator.dialect import dialect_of
from loadtest.emulator.errors import ApiError
from loadtest.emulator.http import ok
from loadtest.emulator.hypertrack.routes import HyperTrackApi
from loadtest.emulator.middleware.allow import AllowIndex, AllowMiddleware, shadow_literals
from loadtest.emulator.middleware.auth import AuthMiddleware
from loadtest.emulator.middleware.bodylimit import BodyLimitMiddleware
from loadtest.emulator.middleware.catchall import CatchAllMiddleware, internal_error
from loadtest.emulator.middleware.dialect import DialectMiddleware
from loadtest.emulator.middleware.faults import FaultMiddleware
from loadtest.emulator.middleware.latency import LatencyMiddleware
from loadtest.emulator.middleware.metrics import MetricsMiddleware
from loadtest.emulator.middleware.ratelimit import RateLimitMiddleware
from loadtest.emulator.nash.routes import NashApi
from loadtest.emulator.onfleet.routes import OnfleetApi
from loadtest.emulator.onfleet.state import OnfleetState
from loadtest.emulator.openapi import build_openapi
from loadtest.emulator.openapi_docs import DocsRoutes
from loadtest.emulator.services import Runtime
from loadtest.emulator.webhooks.routes import WebhookRoutes
from loadtest.providers.onfleet import CONTROL_PATH
from sim import __version__

#: The emulator's time scale, profile and version (``GET``, driver-app auth).
INFO_PATH = f"{CONTROL_PATH}/info"


@dataclass
class Emulator:
    """Everything one app instance holds (``app.state.emulator``), for tests and metrics."""

    rt: Runtime
    onfleet: OnfleetApi
    nash: NashApi
    deftship: DeftshipApi
    hypertrack: HyperTrackApi
    webhooks: WebhookRoutes
    requests: Counter[tuple[str, str, int]] = field(default_factory=Counter)

    def metrics_text(self) -> str:
        lines = [
            "# HELP fleetsim_emulator_requests_total Requests by route template and status.",
            "# TYPE fleetsim_emulator_requests_total counter",
        ]
        for (route, method, status), n in sorted(self.requests.items()):
            lines.append(
                f'fleetsim_emulator_requests_total{{route="{route}",method="{method}",'
                f'status="{status}"}} {n}'
            )
        lines += [
            "# HELP fleetsim_emulator_tasks Tasks (orders, items) by provider and state.",
            "# TYPE fleetsim_emulator_tasks gauge",
        ]
        for state, count in enumerate(self.onfleet.state.state_counts):
            lines.append(f'fleetsim_emulator_tasks{{provider="onfleet",state="{state}"}} {count}')
        for provider, counts in (
            ("hypertrack", self.hypertrack.status_counts()),
            ("deftship", self.deftship.item_counts()),
        ):
            for label, count in sorted(counts.items()):
                lines.append(
                    f'fleetsim_emulator_tasks{{provider="{provider}",state="{label}"}} {count}'
                )
        lines += [
            "# HELP fleetsim_emulator_jobs Jobs and batches by provider and status.",
            "# TYPE fleetsim_emulator_jobs gauge",
        ]
        onfleet_jobs = Counter(j.status for j in self.onfleet.jobs.jobs.values())
        for provider, counts in (
            ("onfleet", dict(onfleet_jobs)),
            ("nash", self.nash.status_counts()),
            ("deftship", self.deftship.status_counts()),
        ):
            for label, count in sorted(counts.items()):
                lines.append(
                    f'fleetsim_emulator_jobs{{provider="{provider}",status="{label}"}} {count}'
                )
        lines += self.rt.webhooks.metrics_lines()
        return "\n".join(lines) + "\n"


def _routes(emu: Emulator) -> list[BaseRoute]:
    doc: dict[str, Any] = {}

    async def openapi(request: Request) -> Response:
        if not doc:
            doc.update(build_openapi(request.app.routes))
        return ok(doc)

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(
            emu.metrics_text(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    async def root(request: Request) -> Response:
        return ok(
            {
                "service": "fleetsim emulator",
                "profile": emu.rt.config.profile,
                "openapi": "/openapi.json",
                "docs": "/docs",
                "metrics": "/metrics",
            }
        )

    async def info(request: Request) -> Response:
        # Emulator-only: what a replay checks its --speedup against (a real API has no
        # such route and answers 404).
        return ok(
            {
                "service": "fleetsim emulator",
                "time_scale": emu.rt.clock.scale,
                "profile": emu.rt.config.profile,
                "version": __version__,
            }
        )

    # The router tries routes in order: the hot Onfleet routes go first.
    return [
        *emu.onfleet.routes(),
        *emu.nash.routes(),
        *emu.deftship.routes(),
        *emu.hypertrack.routes(),
        *emu.webhooks.routes(),
        Route("/", root, methods=["GET"]),
        Route("/healthz", root, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *DocsRoutes().routes(),
        Route(INFO_PATH, info, methods=["GET"]),
    ]


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    # A refused request must leave nothing behind: handlers validate before they change
    # anything, and this drops what a later check could still have left pending (store
    # writes, webhook events), so the next request's commit cannot carry it out.
    request.app.state.emulator.rt.rollback()
    return dialect_of(request.scope).response(exc, _ip(request))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    dialect = dialect_of(request.scope)
    if exc.status_code == 405:
        # Every method of the path, not only those of the first route that matched it.
        allow = request.app.state.allow.allowed(request.url.path)
        err = dialect.method_not_allowed(request.method, {**(exc.headers or {}), "Allow": allow})
    elif exc.status_code == 404:
        err = dialect.no_route(request.url.path)
    else:
        err = ApiError(exc.status_code, str(exc.detail))
    return dialect.response(err, _ip(request))


def _ip(request: Request) -> str:
    return request.client.host if request.client else "127.0.0.1"


async def _bug(request: Request, exc: Exception) -> Response:
    # Only reached by an exception outside CatchAllMiddleware (in the metrics or rate-limit
    # middleware); a 5xx is a bug: answer in the provider's shape (the server logs the trace).
    return dialect_of(request.scope).response(internal_error(exc), _ip(request))


def create_app(config: EmulatorConfig | None = None) -> Starlette:
    """The emulator as an ASGI app (state in memory, or SQLite with ``config.db_path``)."""
    cfg = config or EmulatorConfig()
    rt = Runtime(cfg)
    onfleet_state = OnfleetState(rt)
    emu = Emulator(
        rt=rt,
        onfleet=OnfleetApi(onfleet_state),
        nash=NashApi(rt),
        deftship=DeftshipApi(rt),
        hypertrack=HyperTrackApi(rt),
        webhooks=WebhookRoutes(rt.webhooks, rt.ids, rt.commit, rt.now_ms),
    )

    async def checkpoints() -> None:
        # Copies the WAL into the main file now and then, so the .db is never far behind.
        while True:
            await asyncio.sleep(cfg.checkpoint_interval_s)
            rt.store.checkpoint()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        emu.onfleet.jobs.resume()
        emu.deftship.resume()
        emu.nash.resume()
        emu.hypertrack.resume()
        await rt.webhooks.start()
        ticker = asyncio.create_task(checkpoints()) if rt.store.durable else None
        yield
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        await emu.onfleet.jobs.close()
        await emu.deftship.close()
        await emu.nash.close()
        await emu.hypertrack.close()
        await rt.webhooks.stop()
        rt.close()

    # Outermost: every middleware and handler inside reads the provider it resolves.
    # A literal path (/orders/track) is not a parameter's value (/orders/{handle}).
    routes = shadow_literals(_routes(emu))
    middleware = [
        Middleware(DialectMiddleware),
        Middleware(MetricsMiddleware, requests=emu.requests, routes=routes),
    ]
    middleware.append(
        Middleware(
            RateLimitMiddleware,
            onfleet_per_s=cfg.rate_limit.onfleet_per_s,
            nash_per_s=cfg.rate_limit.nash_per_s,
            window_s=cfg.rate_limit.window_s,
            time_scale=cfg.time_scale,
        )
    )
    # Inside the rate limiter, so even a 500 for an unexpected exception carries its headers.
    middleware.append(Middleware(CatchAllMiddleware, on_error=rt.rollback))
    # OPTIONS and every 405's Allow list all the methods of the path (before auth: a
    # preflight carries no credentials).
    allow = AllowIndex(routes)
    middleware.append(Middleware(AllowMiddleware, index=allow))
    middleware.append(Middleware(BodyLimitMiddleware, max_bytes=cfg.max_body_bytes))
    middleware.append(Middleware(AuthMiddleware, keys=cfg.keys))
    if cfg.faults.error_rate > 0 or cfg.faults.slow_rate > 0:
        middleware.append(
            Middleware(FaultMiddleware, cfg=cfg.faults, rng=rt.rng, time_scale=cfg.time_scale)
        )
    if cfg.latency.enabled:
        middleware.append(
            Middleware(LatencyMiddleware, cfg=cfg.latency, rng=rt.rng, time_scale=cfg.time_scale)
        )
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _bug},
        lifespan=lifespan,
    )
    app.state.emulator = emu
    app.state.allow = allow
    return app
