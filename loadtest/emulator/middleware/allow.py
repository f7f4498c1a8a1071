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

A literal segment shadows a parameter at the same place (:func:`shadow_literals`):
``/orders/track`` is not the order ``track`` of ``/orders/{handle}``, nor is
``/v1/jobs/{id}/cancel`` the package ``cancel`` of ``/v1/jobs/{id}/{cfgId}``.  So the
parameter route does not match a path the literal one serves: the router answers a
method only the parameter route has (``PATCH /orders/track``) with a 405 whose ``Allow``
is the literal path's, the same list OPTIONS gives, wherever the routes were registered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

#: The order methods are listed in (then any others, sorted).
_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


_NAMED = re.compile(r"\(\?P<\w+>")


def _segments(path: str) -> list[str | None]:
    """The template's segments, None for a parameter."""
    return [None if seg.startswith("{") else seg for seg in path.split("/")]


def _more_specific(lit: list[str | None], par: list[str | None]) -> bool:
    """Whether template ``lit`` can match a path ``par`` also matches, with a literal
    where ``par`` first has a parameter (and never a parameter where ``par`` has a
    literal before that)."""
    if len(lit) != len(par):
        return False
    for a, b in zip(lit, par, strict=True):
        if a is not None and b is not None and a != b:
            return False  # the two never match one path
    for a, b in zip(lit, par, strict=True):
        if (a is None) != (b is None):
            return b is None  # the first place they differ: the literal wins
    return False


class ShadowedRoute(Route):
    """A route that does not match the paths of more specific (literal) routes."""

    def __init__(self, route: Route, shadows: Sequence[Route]) -> None:
        self.__dict__.update(route.__dict__)
        # one alternation, the parameters unnamed (two templates may name one alike)
        unnamed = (_NAMED.sub("(", r.path_regex.pattern) for r in shadows)
        self.shadow = re.compile("|".join(f"(?:{p})" for p in unnamed))

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and self.shadow.match(scope["path"]):
            return Match.NONE, {}
        return super().matches(scope)

    def __eq__(self, other: Any) -> bool:
        return super().__eq__(other)

    __hash__ = Route.__hash__


def shadow_literals(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """``routes`` with each parameter route that a literal one shadows wrapped so that it
    leaves those paths to it (see the module's docstring)."""
    plain = [r for r in routes if isinstance(r, Route)]
    segs = {id(r): _segments(r.path) for r in plain}
    out: list[BaseRoute] = []
    for r in routes:
        if isinstance(r, Route) and "{" in r.path:
            shadows = [
                o for o in plain if o.path != r.path and _more_specific(segs[id(o)], segs[id(r)])
            ]
            if shadows:
                out.append(ShadowedRoute(r, shadows))
                continue
        out.append(r)
    return out


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
            if r.path_regex.match(path) and not (
                isinstance(r, ShadowedRoute) and r.shadow.match(path)
            ):
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
