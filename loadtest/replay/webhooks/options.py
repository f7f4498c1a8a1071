"""The ``--webhook*`` options, validated once, and the secrets (from the environment only).

Concepts held here: :class:`WebhookOptions`, :func:`parse_listen`,
:func:`secrets_from_env` and :func:`check_secret`.  Light on purpose: every replay process
imports it, and only the one that hosts the receiver imports
:mod:`loadtest.replay.webhooks.host` (uvicorn, svix).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadtest.providers.webhooks import DEMO_WEBHOOK_SECRET, WEBHOOK_SECRET_ENV
from sim.errors import UserError

NASH_SECRET_ENV = "FLEETSIM_NASH_WEBHOOK_SECRET"
DEFAULT_GRACE_S = 10.0
#: ``--webhook-register``: through the API (the emulator's route for Nash and
#: HyperTrack), or nothing (print what to configure by hand).
#: Bounds on the receiver's injected answer delay and the wait for late events: finite,
#: so a run always ends (a minute is longer than any provider waits for an answer).
MAX_DELAY_MS = 60_000.0
MAX_GRACE_S = 86_400.0
REGISTER_MODES = ("auto", "none")


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
        if not 0 <= self.delay_ms <= MAX_DELAY_MS:  # also refuses nan and inf
            raise UserError(
                f"--webhook-delay-ms {self.delay_ms}: must be a number of ms in "
                f"[0, {MAX_DELAY_MS:,.0f}] (longer than any provider waits for an answer)"
            )
        if not 0 <= self.grace_s <= MAX_GRACE_S:
            raise UserError(
                f"--webhook-grace {self.grace_s}: must be a number of seconds in "
                f"[0, {MAX_GRACE_S:,.0f}] (a day)"
            )
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
