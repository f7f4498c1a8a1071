"""The delivery engine: the :class:`~loadtest.emulator.webhooks.EventSink` provider state
emits into, the outbox it commits to, and the async workers that send.

Concepts:

* **Pending events.**  :meth:`WebhookEngine.emit` appends to a list.
  :meth:`loadtest.emulator.services.Runtime.commit` calls :meth:`WebhookEngine.prepare`
  (fan out each event to one :class:`Delivery` per subscribed endpoint; with ``--db``,
  ``store.put`` each as a ``webhook-delivery`` row, so the rows commit in the same SQLite
  transaction as the write that caused them), commits the store, then
  :meth:`WebhookEngine.release` hands the deliveries to the outbox.  ``Runtime.rollback``
  calls :meth:`WebhookEngine.discard`: a failed request's events never leave.
* **Lanes.**  The outbox is one FIFO lane per ``(endpoint, subject)``.  A lane is in the
  ready queue, in a worker, or waiting on its retry timer, never two of these at once, so
  deliveries about one subject to one endpoint arrive in order, and a retrying delivery
  holds back the later ones of its lane (and only those).  Lanes of different subjects or
  endpoints go in parallel.  ``http://`` heads are sent by :meth:`WebhookEngine._pump`, one
  call per loop tick for every lane that became ready, through ``fastpost`` (pipelined on
  at most ``concurrency`` keep-alive connections per receiver, answers reported back by
  callback: no task, future or timer per delivery).  A head whose URL's loopback check is
  not cached (or ``https://``) goes to ``concurrency`` worker tasks instead, which run the
  check (then the lane goes back to the pump) or send through one keep-alive ``aiohttp``
  session.
* **The bound.**  At most ``max_outbox`` deliveries are held.  Past it, a new delivery is
  dropped at commit: counted (``outcome="dropped"``), logged (at most every 10 s, with the
  running total) and never written to the store.  The API write itself is kept: a slow
  receiver must not fail the platform's API.
* **Marks.**  With ``--db``, a delivered, failed or dropped delivery's row is updated (the
  body dropped from delivered rows) and the updates are committed in batches every
  ``mark_interval_s``, not per delivery.  A ``kill -9`` between a send and its mark
  re-sends that delivery at the next start, with the same delivery id (at-least-once).
  At start, ``pending`` rows are resumed in their original order, at once (a retry's
  remaining wait is not kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import aiohttp
import httpx
import orjson

from loadtest.emulator.config import WebhookConfig
from loadtest.emulator.store import Store
from loadtest.emulator.webhooks.delivery import Delivery, DeliveryIds, gone_endpoint
from loadtest.emulator.webhooks.delivery import parse_endpoint_flag as parse_endpoint_flag
from loadtest.emulator.webhooks.fastpost import HttpPool, request_head
from loadtest.emulator.webhooks.guard import Guard, Refused, parse_url
from loadtest.emulator.webhooks.metrics import WebhookMetrics
from loadtest.emulator.webhooks.registry import THRESHOLD_NAMES, Endpoint, Registry
from loadtest.emulator.webhooks.send import (
    Outcome,
    Signer,
    attempt,
    handshake,
    new_session,
    outcome_of,
)
from loadtest.providers.webhooks import (
    PROVIDERS,
    RETRY_DELAYS_S,
    TIMEOUT_S,
    Provider,
)

log = logging.getLogger("fleetsim.emulator.webhooks")
KIND = "webhook-delivery"
_DROP_LOG_EVERY_S = 10.0
#: How long the pump lets ready lanes gather before it sends: more requests per write
#: and per answer read (each a syscall here and in the receiver), for at most this much
#: added latency.
PUMP_DELAY_S = 0.005

LaneKey = tuple[str, str]
PendingEvent = tuple[Provider, str, str, Any, float | None]


class WebhookEngine:
    """The sink, the outbox and its workers (see the module docstring)."""

    def __init__(self, cfg: WebhookConfig, store: Store, time_scale: float = 1.0) -> None:
        self.cfg = cfg
        # A retry waits the provider's documented delay times ``time_factor`` in simulated
        # time, which the emulator's clock (``--time-scale``) runs faster than the wall.
        self._retry_wall_factor = cfg.time_factor / time_scale
        self.store = store
        self.registry = Registry(store)
        self.metrics = WebhookMetrics()
        self.signer = Signer(cfg.secret)
        self.guard = Guard(cfg.allow_remote)
        #: Called to commit batched marks (the runtime's commit, set by the Runtime).
        self.commit_marks: Callable[[], None] = store.commit
        self._ids = DeliveryIds()
        self.depth = 0
        #: Deliveries accepted into the outbox since start (a counter for tests and routes).
        self.accepted = 0
        self._pending: list[PendingEvent] = []
        # Threshold events already sent, per subject: {(endpoint id, trigger)}; a subject
        # leaves when it is final (done), so this holds only live tasks.
        self._fired: dict[str, set[tuple[str, str]]] = {}
        self._done: list[str] = []
        self._lanes: dict[LaneKey, deque[Delivery]] = {}
        self._urls: dict[str, httpx.URL] = {}
        self._timeouts = {p: cfg.timeout_s or TIMEOUT_S[p] for p in PROVIDERS}
        self._pool = HttpPool(cfg.concurrency, self._answered)
        self._pool.on_room = self._wake
        #: (request head, port) of each http:// URL sent to (the head is per URL).
        self._heads: dict[str, tuple[bytes, int]] = {}
        #: Lanes whose head is to be sent, for the pump (http) to sort out.
        self._readyq: deque[LaneKey] = deque()
        self._pumping = False
        #: Lanes for the workers: a loopback check to run, or an https send.
        self._queue: asyncio.Queue[LaneKey] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._session: aiohttp.ClientSession | None = None
        self._dirty = False
        self._dropped_unlogged = 0
        self._dropped_logged_at = 0.0
        for i, spec in enumerate(cfg.endpoints):
            provider, url = parse_endpoint_flag(spec)
            self.registry.add(
                Endpoint(f"flag-{i}-{provider}", provider, url, None, source="flag"),
                persist=False,
            )
        self._resume()

    # -- the sink ---------------------------------------------------------------------
    def wants(self, provider: Provider, name: str) -> bool:
        return self.registry.wants(provider, name)

    def emit(
        self,
        provider: Provider,
        name: str,
        subject: str,
        body: Any,
        *,
        measure: float | None = None,
    ) -> None:
        self._pending.append((provider, name, subject, body, measure))

    def done(self, subject: str) -> None:
        if self._fired:
            self._done.append(subject)

    # -- commit and rollback ------------------------------------------------------------
    def prepare(self) -> list[Delivery]:
        """Fan the pending events out to deliveries; with a durable store, put their rows
        (the caller commits the store, then calls :meth:`release`)."""
        if self._done:
            for subject in self._done:
                self._fired.pop(subject, None)
            self._done.clear()
        if not self._pending:
            return []
        events, self._pending = self._pending, []
        out: list[Delivery] = []
        now = time.time()
        durable = self.store.durable
        room = self.cfg.max_outbox - self.depth
        for provider, name, subject, body, measure in events:
            targets = self.registry.targets(provider, name)
            data: bytes | None = None
            for ep in targets:
                if measure is not None and name in THRESHOLD_NAMES:
                    if not ep.takes(name, measure):
                        continue
                    fired = self._fired.setdefault(subject, set())
                    if (ep.id, name) in fired:
                        continue
                    fired.add((ep.id, name))
                if len(out) >= room:
                    self._drop(provider, name)
                    continue
                if data is None:
                    data = orjson.dumps(body)
                d = Delivery(self._ids.new(provider), ep, name, subject, data, now)
                out.append(d)
                if durable:
                    self.store.put(KIND, d.id, d.record("pending"))
        return out

    def release(self, deliveries: list[Delivery]) -> None:
        """Hand committed deliveries to the outbox (from any thread)."""
        if not deliveries:
            return
        loop = self._loop
        if loop is not None and threading.get_ident() != self._loop_thread:
            loop.call_soon_threadsafe(self._enqueue, deliveries)
        else:
            self._enqueue(deliveries)

    def discard(self) -> None:
        """Forget the events emitted since the last commit (the request failed)."""
        self._pending.clear()
        self._done.clear()

    def _enqueue(self, deliveries: list[Delivery]) -> None:
        lanes = self._lanes
        readyq = self._readyq
        for d in deliveries:
            key = (d.endpoint.id, d.subject)
            lane = lanes.get(key)
            if lane is None:
                lanes[key] = deque((d,))
                readyq.append(key)
            else:
                lane.append(d)
        self.depth += len(deliveries)
        self.accepted += len(deliveries)
        self._wake()  # once for the batch, not per new lane

    def _ready(self, key: LaneKey) -> None:
        self._readyq.append(key)
        self._wake()

    def _wake(self) -> None:
        """Run the pump soon when lanes wait (once however many; see PUMP_DELAY_S)."""
        if not self._pumping and self._readyq and self._loop is not None:
            self._pumping = True
            self._loop.call_later(PUMP_DELAY_S, self._pump)

    def _drop(self, provider: str, name: str) -> None:
        self.metrics.count(provider, name, "dropped")
        self._dropped_unlogged += 1
        now = time.monotonic()
        if now - self._dropped_logged_at >= _DROP_LOG_EVERY_S:
            log.warning(
                "webhook outbox full (%d deliveries, max_outbox): dropped %d new deliveries "
                "since the last warning (counted as outcome=dropped in /metrics)",
                self.cfg.max_outbox,
                self._dropped_unlogged,
            )
            self._dropped_logged_at = now
            self._dropped_unlogged = 0

    # -- restart ------------------------------------------------------------------------
    def _resume(self) -> None:
        """Queue the ``pending`` rows of an earlier run, in their original order."""
        if not self.store.durable:
            return
        resumed: list[Delivery] = []
        for rec in self.store.load(KIND):
            if rec.get("state") != "pending":
                continue
            ep = self.registry.endpoints.get(str(rec["endpoint"]))
            body = str(rec.get("body", "")).encode()
            if ep is None:
                self.metrics.count(str(rec["provider"]), str(rec["name"]), "dropped")
                gone = Delivery(
                    rec["id"], gone_endpoint(rec), rec["name"], rec["subject"], body, 0.0
                )
                self.store.put(KIND, gone.id, gone.record("dropped"))
                self._dirty = True
                continue
            d = Delivery(
                str(rec["id"]),
                ep,
                str(rec["name"]),
                str(rec["subject"]),
                body,
                float(rec["emitted"]),
                int(rec.get("attempts", 0)),
            )
            resumed.append(d)
        self._enqueue(resumed)

    # -- workers ------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the workers (and the mark committer with ``--db``); needs a running loop."""
        if self._queue is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._session = new_session(self.cfg.concurrency)
        self._queue = asyncio.Queue()
        self._pumping = False
        self._wake()
        loop = self._loop
        self._tasks = [loop.create_task(self._worker()) for _ in range(self.cfg.concurrency)]
        if self.store.durable:
            self._tasks.append(loop.create_task(self._marker()))

    async def stop(self) -> None:
        """Stop sending; in-flight and waiting deliveries stay ``pending`` in the store."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._pool.close()
        # Lanes that were waiting or in flight go back to the ready list for a restart of
        # the workers in this process (tests); the store has them in any case.
        self._readyq = deque(self._lanes)
        self._queue = None
        self._loop = None
        self._flush_marks()

    async def _marker(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.mark_interval_s)
            self._flush_marks()

    def _flush_marks(self) -> None:
        if self._dirty:
            self._dirty = False
            self.commit_marks()

    def _mark(self, d: Delivery, state: str) -> None:
        if self.store.durable:
            self.store.put(KIND, d.id, d.record(state))
            self._dirty = True

    def _url(self, raw: str) -> httpx.URL:
        url = self._urls.get(raw)
        if url is None:
            if len(self._urls) >= 1024:
                self._urls.clear()
            url = self._urls[raw] = parse_url(raw)
        return url

    def _pump(self) -> None:
        """Send the head of every ready lane: http ones pipelined by receiver (one write
        per connection), the rest to the workers.  A receiver with no room left keeps
        its lanes ready until an answer frees some."""
        self._pumping = False
        ready, self._readyq = self._readyq, deque()
        groups: dict[tuple[str, int], list[tuple[object, bytes, float]]] = {}
        rooms: dict[tuple[str, int], int] = {}
        # Each URL's loopback check (and request head) once per pump, not per delivery.
        routes: dict[str, tuple[tuple[str, int], bytes] | None] = {}
        lanes = self._lanes
        registry = self.registry.endpoints
        build = self.signer.request
        timeouts = self._timeouts
        for key in ready:
            lane = lanes.get(key)
            if not lane:
                continue
            d = lane[0]
            ep = d.endpoint
            if registry.get(ep.id) is not ep:
                self._drop_lane(key, lane)
                continue
            raw = ep.url
            if raw in routes:
                route = routes[raw]
            else:
                route = routes[raw] = self._route(raw)
            if route is None:
                assert self._queue is not None
                self._queue.put_nowait(key)
                continue
            hp, head = route
            room = rooms.get(hp)
            if room is None:
                room = self._pool.room(hp)
            if room <= 0:
                self._readyq.append(key)  # sent when an answer frees room
                continue
            rooms[hp] = room - 1
            provider = ep.provider
            item = ((key, d), build(head, provider, d.id, d.body), timeouts[provider])
            group = groups.get(hp)
            if group is None:
                groups[hp] = [item]
            else:
                group.append(item)
        for hp, items in groups.items():
            self._pool.send(hp, items)

    def _route(self, raw: str) -> tuple[tuple[str, int], bytes] | None:
        """Where an http delivery to ``raw`` connects (the checked address) and its
        request head; None when the workers must run the check first (or https)."""
        url = self._url(raw)
        if url.scheme != "http":
            return None
        known, addr = self.guard.peek(url)
        if not known:
            return None
        head = self._heads.get(raw)
        if head is None:
            if len(self._heads) >= 1024:
                self._heads.clear()
            host = url.netloc.decode("ascii")
            head = self._heads[raw] = (request_head(url.raw_path, host), url.port or 80)
        return (addr or url.host, head[1]), head[0]

    def _answered(self, token: object, status: int | None, counts: bool) -> None:
        """fastpost's report on one head: an answer, a failed attempt, or (``counts``
        False) a request to send again as it was."""
        key, d = cast(tuple[LaneKey, Delivery], token)
        lane = self._lanes.get(key)
        if lane is None or not lane or lane[0] is not d:
            return  # the lane went (its endpoint was removed, the engine stopped)
        if status is None and not counts:
            self._ready(key)
            return
        self._settle(key, lane, d, outcome_of(d.endpoint.provider, status))
        if self._readyq:
            self._wake()

    def _drop_lane(self, key: LaneKey, lane: deque[Delivery]) -> None:
        """The lane's endpoint was removed: drop what it had."""
        self.depth -= len(lane)
        while lane:
            gone = lane.popleft()
            self.metrics.count(gone.endpoint.provider, gone.name, "dropped")
            self._mark(gone, "dropped")
        del self._lanes[key]

    async def _worker(self) -> None:
        queue = self._queue
        assert queue is not None
        while True:
            key = await queue.get()
            lane = self._lanes.get(key)
            if not lane:
                continue
            try:
                await self._send_slow(key, lane)
            except Exception:  # a bug must not stop a worker; the lane moves on
                log.exception("webhook delivery failed unexpectedly")
                self._finish(key, lane, "failed")

    async def _send_slow(self, key: LaneKey, lane: deque[Delivery]) -> None:
        """The loopback check of an http URL (then the pump sends it), or an https
        send."""
        d = lane[0]
        ep = d.endpoint
        if self.registry.endpoints.get(ep.id) is not ep:
            self._drop_lane(key, lane)
            return
        provider = ep.provider
        url = self._url(ep.url)
        if url.scheme == "http":
            try:
                await self.guard.address(url)
            except Refused as exc:
                log.warning("webhook not sent: %s", exc)
                self._settle(key, lane, d, Outcome.REFUSED)
                return
            self._ready(key)
            return
        if d.headers is None:
            d.headers = self.signer.static_headers(provider, d.id, d.body)
        headers = self.signer.attempt_headers(provider, d.headers, d.id, d.body)
        session = self._session
        assert session is not None
        outcome, _status = await attempt(
            session, self.guard, provider, url, headers, d.body, self._timeouts[provider]
        )
        self._settle(key, lane, d, outcome)

    def _settle(self, key: LaneKey, lane: deque[Delivery], d: Delivery, outcome: Outcome) -> None:
        """Act on the outcome of one attempt of the lane's head ``d``."""
        ep = d.endpoint
        provider = ep.provider
        if outcome is Outcome.DELIVERED:
            self.metrics.observe(provider, time.time() - d.emitted)
            ep.count += 1
            self.registry.save(ep)
            self._finish(key, lane, "delivered")
        elif outcome is Outcome.RETRY:
            d.attempts += 1
            delays = RETRY_DELAYS_S[provider]
            if d.attempts > len(delays):
                self._finish(key, lane, "failed")
                return
            self.metrics.count(provider, d.name, "retried")
            self._mark(d, "pending")  # the attempt count, for a restart
            assert self._loop is not None
            delay = delays[d.attempts - 1] * self._retry_wall_factor
            timer: asyncio.TimerHandle | None = None

            def due() -> None:
                if timer is not None:
                    self._timers.discard(timer)
                self._ready(key)

            timer = self._loop.call_later(delay, due)
            self._timers.add(timer)
        elif outcome is Outcome.REFUSED:
            self._finish(key, lane, "refused")
        else:
            self._finish(key, lane, "failed")

    def _finish(self, key: LaneKey, lane: deque[Delivery], outcome: str) -> None:
        """The lane's head is done: count, mark, and let the lane's next one go."""
        d = lane.popleft()
        self.depth -= 1
        self.metrics.count(d.endpoint.provider, d.name, outcome)
        self._mark(d, outcome)
        if lane:
            self._ready(key)
        else:
            del self._lanes[key]

    # -- registration -------------------------------------------------------------------
    async def handshake(self, url: str, token: str) -> str | None:
        """Onfleet's ``?check=`` validation of ``url`` (see :func:`send.handshake`)."""
        parsed = self._url(url)
        timeout = self.cfg.handshake_timeout_s
        if self._session is not None:
            return await handshake(self._session, self.guard, parsed, token, timeout)
        async with new_session(1) as session:  # the workers are not running (tests)
            return await handshake(session, self.guard, parsed, token, timeout)

    def remove_endpoint(self, endpoint_id: str) -> Endpoint | None:
        """Unregister; its waiting deliveries are dropped when their lane comes up."""
        return self.registry.remove(endpoint_id)

    def metrics_lines(self) -> list[str]:
        return self.metrics.lines(self.depth)
