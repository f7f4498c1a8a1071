"""The receiver and its registrations, for the one replay process that hosts them.

Concepts held here: :class:`WebhookOptions` (the ``--webhook*`` flags, validated once),
:func:`parse_listen`, :func:`secrets_from_env` (the webhook secret and any Nash signing
secret, from the environment only, never from a command line or a log) and
:class:`WebhookHost` (start the receiver, register it, drain its arrivals, remove the
registrations and stop; every step bounded, closing idempotent).

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
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO

import httpx

from loadtest.providers.webhooks import DEMO_WEBHOOK_SECRET, WEBHOOK_SECRET_ENV
from loadtest.replay.webhooks.receiver import (
    ArrivalLog,
    ReceiverConfig,
    ReceiverServer,
    create_receiver_app,
    rows_since,
)
from loadtest.replay.webhooks.registration import (
    REGISTER_MODES,
    TIMEOUT_S,
    Registered,
    register,
    unregister,
)
from loadtest.replay.wire import Targets
from sim.errors import UserError

log = logging.getLogger("fleetsim.replay")
NASH_SECRET_ENV = "FLEETSIM_NASH_WEBHOOK_SECRET"
DEFAULT_GRACE_S = 10.0


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) to its parts; :class:`UserError` otherwise."""
    m = re.fullmatch(r"\[?([^\[\]]+?)\]?:(\d{1,5})", text.strip())
    if m is None or not 0 <= int(m.group(2)) <= 65535:
        raise UserError(f"--webhook-listen {text!r}: use HOST:PORT, e.g. 0.0.0.0:8099")
    return m.group(1), int(m.group(2))


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    """The ``--webhook*`` flags of ``fleetsim replay`` (and of the Locust suite)."""

    enabled: bool = False
    listen: str = ""
    public_url: str = ""
    delay_ms: float = 0.0
    fail_ratio: float = 0.0
    grace_s: float = DEFAULT_GRACE_S
    register: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.enabled and (
            self.listen or self.public_url or self.fail_ratio or self.delay_ms
        ):
            raise UserError(
                "--webhook-listen, -public-url, -delay-ms and -fail-ratio need --webhooks"
            )
        if self.listen:
            parse_listen(self.listen)
        if self.public_url and not re.match(r"^https?://[^/]", self.public_url):
            raise UserError(f"--webhook-public-url {self.public_url!r}: must be an http(s) URL")
        if self.public_url and not self.listen:
            raise UserError(
                "--webhook-public-url needs --webhook-listen HOST:PORT (the address that URL "
                "reaches on this machine)"
            )
        if not 0.0 <= self.fail_ratio < 1.0:
            raise UserError(f"--webhook-fail-ratio {self.fail_ratio}: must be in [0, 1)")
        if self.delay_ms < 0:
            raise UserError(f"--webhook-delay-ms {self.delay_ms}: must be >= 0")
        if self.grace_s < 0:
            raise UserError(f"--webhook-grace {self.grace_s}: must be >= 0")
        if self.register not in REGISTER_MODES:
            raise UserError(
                f"--webhook-register {self.register!r}: use one of {', '.join(REGISTER_MODES)}"
            )

    @classmethod
    def from_locust(cls, o: Any) -> WebhookOptions:
        """From Locust's parsed options (the names :mod:`loadtest.replay.locustfile` adds)."""
        return cls(
            enabled=bool(getattr(o, "webhooks", False)),
            listen=str(getattr(o, "webhook_listen", "") or ""),
            public_url=str(getattr(o, "webhook_public_url", "") or ""),
            delay_ms=float(getattr(o, "webhook_delay_ms", 0.0) or 0.0),
            fail_ratio=float(getattr(o, "webhook_fail_ratio", 0.0) or 0.0),
            grace_s=float(getattr(o, "webhook_grace", DEFAULT_GRACE_S)),
            register=str(getattr(o, "webhook_register", "auto") or "auto"),
            seed=int(getattr(o, "webhook_seed", 0) or 0),
        )

    def locust_args(self) -> list[str]:
        """The Locust command-line flags for these options (no secret is ever one)."""
        if not self.enabled:
            return []
        args = ["--webhooks", "--webhook-grace", repr(self.grace_s)]
        args += ["--webhook-register", self.register, "--webhook-seed", str(self.seed)]
        if self.listen:
            args += ["--webhook-listen", self.listen]
        if self.public_url:
            args += ["--webhook-public-url", self.public_url]
        if self.delay_ms:
            args += ["--webhook-delay-ms", repr(self.delay_ms)]
        if self.fail_ratio:
            args += ["--webhook-fail-ratio", repr(self.fail_ratio)]
        return args


def secrets_from_env(env: Mapping[str, str] | None = None) -> tuple[str, list[str]]:
    """The webhook secret (hex; :data:`WEBHOOK_SECRET_ENV`, else the demo secret) and the
    Nash signing secrets given in :data:`NASH_SECRET_ENV` (comma-separated)."""
    environ = os.environ if env is None else env
    secret = environ.get(WEBHOOK_SECRET_ENV) or DEMO_WEBHOOK_SECRET
    nash = [s.strip() for s in environ.get(NASH_SECRET_ENV, "").split(",") if s.strip()]
    return secret, nash


def check_secret(secret: str) -> None:
    """A :class:`UserError` for a secret that is not hex (it never shows the value)."""
    try:
        bytes.fromhex(secret)
    except ValueError:
        raise UserError(
            f"--webhook-secret / {WEBHOOK_SECRET_ENV}: must be hex (e.g. 64 hex digits); "
            "the value is not shown"
        ) from None
    if not secret:
        raise UserError(f"--webhook-secret / {WEBHOOK_SECRET_ENV}: must not be empty")


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
