"""``OPTIONS`` and the ``Allow`` header: every method a path serves, in one place.

Starlette answers a wrong method with the ``Allow`` of the first route whose path matched,
and the emulator serves one path through several routes (GET, PUT and DELETE
``/tasks/{id}`` are three), so a 405 listed only some of the path's methods and OPTIONS was
a 405 of its own.  This middleware knows every route:

* ``OPTIONS`` on a served path answers 204 with ``Allow`` (every method of the path, with
  HEAD for GET and OPTIONS itself), before authentication: a preflight carries no
  credentials [inf].  A path no route serves goes on to the router's 404.
* A 405 from the router is answered in the dialect's shape by the app's handler, which
  takes its ``Allow`` from the same :class:`AllowIndex` (``app.state.allow``).

The path's methods are found by matching the route templates once per distinct path of
an OPTIONS or 405 answer; other requests pay one comparison and no send wrapper.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

#: The order methods are listed in (then any others, sorted).
_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class AllowIndex:
    """Which methods each path is served with, from the app's routes (cached per path)."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.routes = [r for r in routes if isinstance(r, Route)]
        self._cache: dict[str, str] = {}

    def allowed(self, path: str) -> str:
        """The ``Allow`` value of ``path`` ("" when no route serves it)."""
        hit = self._cache.get(path)
        if hit is not None:
            return hit
        methods: set[str] = set()
        for r in self.routes:
            if r.path_regex.match(path):
                methods |= set(r.methods or ())
        if methods:
            methods.add("OPTIONS")
        ordered = [m for m in _ORDER if m in methods] + sorted(methods - set(_ORDER))
        value = ", ".join(ordered)
        if len(self._cache) < 4096:
            self._cache[path] = value
        return value


class AllowMiddleware:
    """Answers OPTIONS; every other request passes straight through (no wrapper)."""

    def __init__(self, app: ASGIApp, index: AllowIndex) -> None:
        self.app = app
        self.index = index

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            allow = self.index.allowed(scope["path"])
            if allow:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 204,
                        "headers": [(b"allow", allow.encode())],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)
