"""A :class:`loadtest.replay.wire.Transport` over httpx, for tests, reconciliation and dry runs.

Inside a replay :class:`loadtest.replay.httpclient.LocustTransport` carries the traffic
(and reports it to Locust's stats); this one is for everything around it.
"""

from __future__ import annotations

import httpx

from loadtest.replay.wire import HttpResult


class HttpxTransport:
    """Synchronous httpx client with a connection pool; never raises on HTTP errors."""

    def __init__(self, timeout_s: float = 30.0) -> None:
        self._client = httpx.Client(timeout=timeout_s)

    def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        name: str,
        timeout_s: float,
    ) -> HttpResult:
        try:
            r = self._client.request(method, url, headers=headers, content=body, timeout=timeout_s)
        except httpx.TimeoutException as exc:
            return HttpResult(0, {}, b"", error=f"timeout: {exc}", timed_out=True)
        except httpx.HTTPError as exc:
            return HttpResult(0, {}, b"", error=f"{type(exc).__name__}: {exc}")
        return HttpResult(r.status_code, dict(r.headers), r.content)

    def close(self) -> None:
        self._client.close()
