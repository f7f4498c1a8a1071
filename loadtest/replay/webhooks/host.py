"""The receiver and its registrations, for the one replay process that hosts them.

Concept held here: :class:`WebhookHost` (start the receiver, register it, drain its
arrivals, remove the registrations and stop; every step bounded, closing idempotent).

Distributed runs (``--processes N``) host one receiver, in worker 0, registered once: a
real merchant has one endpoint, every registration would make the platform deliver
every event again (N receivers would each get all N copies, not a share), Onfleet allows
at most 10 webhooks on taskEta and taskArrival, and a fixed ``--webhook-listen`` port can
be bound once.  Every worker records the expectations of its own calls; the master
matches them all against worker 0's arrivals, so an event no worker expects is reported
as unexpected exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, TextIO

import httpx

from loadtest.replay.webhooks.options import (
    NASH_SECRET_ENV,
    WebhookOptions,
    check_secret,
    parse_listen,
    secrets_from_env,
)
from loadtest.replay.webhooks.receiver import (
    ArrivalLog,
    ReceiverConfig,
    ReceiverServer,
    create_receiver_app,
    rows_since,
)
from loadtest.replay.webhooks.registration import TIMEOUT_S, Registered, register, unregister
from loadtest.replay.wire import Targets
from sim.errors import UserError

log = logging.getLogger("fleetsim.replay")


class WebhookHost:
    """The receiver of one replay process, registered with the target for its run."""

    def __init__(
        self,
        options: WebhookOptions,
        targets: Targets,
        wanted: Mapping[str, tuple[str, ...]],
        run_id: str,
        t0_epoch: float,
        env: Mapping[str, str] | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.options = options
        self.targets = targets
        self.wanted = dict(wanted)
        self.run_id = run_id
        self.t0_epoch = t0_epoch
        secret, nash = secrets_from_env(env)
        check_secret(secret)
        self.config = ReceiverConfig(
            secret, nash, options.delay_ms, options.fail_ratio, options.seed
        )
        self.log = ArrivalLog()
        self.server: ReceiverServer | None = None
        self.registered = Registered()
        self.stream = stream
        self.closed = False
        self.url = ""

    def start(self) -> str:
        """Serve, then register; returns the URL the target was given.  Raises
        :class:`UserError` (the receiver stopped, nothing left registered) on failure."""
        host, port = parse_listen(self.options.listen) if self.options.listen else ("127.0.0.1", 0)
        try:
            self.server = ReceiverServer(create_receiver_app(self.config, self.log), host, port)
            local = self.server.start()
        except OSError as exc:
            self.server = None
            raise UserError(f"webhook receiver: {exc}") from None
        self.url = self.options.public_url.rstrip("/") or local
        try:
            with httpx.Client(timeout=TIMEOUT_S) as http:
                self.registered = register(
                    http, self.targets, self.url, self.wanted, self.run_id, self.options.register
                )
        except BaseException:
            self.server.stop()
            self.closed = True
            raise
        self.config.nash_secrets.extend(self.registered.nash_secrets)
        self._say(f"webhook receiver on {local} (the target calls {self.url})")
        for reg in self.registered.registrations:
            self._say(f"  registered {reg.what}")
        for line in self.registered.instructions:
            self._say(f"  configure by hand: {line}")
        if "nash" in self.wanted and not self.config.nash_secrets:
            self._say(
                f"  no Nash signing secret (set {NASH_SECRET_ENV}): every Nash delivery "
                "will count as a bad signature"
            )
        return self.url

    def drain(self) -> list[list[Any]]:
        """Arrivals since the last drain, timed from the run's origin."""
        return rows_since(self.log.drain(), self.t0_epoch)

    def close(self) -> None:
        """Remove the registrations and stop the receiver (once; never raises)."""
        if self.closed:
            return
        self.closed = True
        if self.registered.registrations:
            try:
                with httpx.Client(timeout=10.0) as http:
                    errors = unregister(http, self.targets, self.registered.registrations)
            except Exception as exc:  # the way out must not fail
                errors = [f"{type(exc).__name__}: {exc}"]
            for e in errors:
                log.warning("webhook registration not removed: %s", e)
        if self.server is not None:
            self.server.stop()

    def _say(self, line: str) -> None:
        if self.stream is not None:
            print(line, file=self.stream, flush=True)
        else:
            log.warning("%s", line)
