"""What the replay needs to put a trace call on the wire, without any HTTP library.

Concepts held here: :class:`HttpResult` and the :class:`Transport` protocol (Locust's
client in a replay, httpx in tests), :class:`Targets` (a base URL and credentials per
provider, credentials read from environment variables and never printed unmasked),
:class:`IdMap` (simulator references to server ids) and resolving the ``$ref:``/``$run``
placeholders of a call into a concrete URL and body.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from loadtest.providers import deftship, hypertrack, nash, onfleet
from loadtest.trace.format import REF_PREFIX, RUN_PLACEHOLDER, JsonValue, TraceCall

#: Environment variables holding credentials, per provider.
CREDENTIAL_ENV = {
    "onfleet": ("ONFLEET_API_KEY",),
    "nash": ("NASH_API_KEY", "NASH_ORG_ID"),
    "deftship": ("DEFTSHIP_API_TOKEN",),
    "hypertrack": ("HYPERTRACK_ACCOUNT_ID", "HYPERTRACK_SECRET_KEY"),
}
#: The emulator's documented demo key, used only when the target is loopback and no key is set.
LOOPBACK_DEMO_KEY = "fleetsim-demo-key-0000000000000000"
PROVIDERS = tuple(CREDENTIAL_ENV)


@dataclass(frozen=True, slots=True)
class HttpResult:
    """One HTTP exchange.  ``status`` 0 means no response (connection error or timeout)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    error: str = ""
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        low = name.lower()
        for k, v in self.headers.items():
            if k.lower() == low:
                return v
        return None


class Transport(Protocol):
    """Sends one request; ``name`` is the stable endpoint name for the tool's own stats."""

    def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        name: str,
        timeout_s: float,
    ) -> HttpResult: ...


def redact_url(url: str) -> str:
    """``url`` without any ``user:password@`` part (results never carry credentials)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


#: Calls only the emulator understands (what a driver's phone does on a real platform).
EMULATOR_ONLY_OPS = ("driver.*",)


def effective_skip_ops(skip_ops: tuple[str, ...], onfleet_base: str) -> tuple[str, ...]:
    """The ops to skip: the user's, plus the emulator-only ones unless the target is local.

    The driver-app control routes exist only on the emulator, so they are never sent to a
    target off this machine, whatever the flags say.
    """
    if is_loopback(onfleet_base):
        return skip_ops
    return tuple(dict.fromkeys((*skip_ops, *EMULATOR_ONLY_OPS)))


@dataclass(frozen=True, slots=True)
class Targets:
    """Base URL and auth headers per provider (the emulator serves all on one host)."""

    bases: Mapping[str, str]
    auth: Mapping[str, Mapping[str, str]]

    @classmethod
    def build(
        cls,
        host: str,
        overrides: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Targets:
        environ = os.environ if env is None else env
        bases = {p: (overrides or {}).get(p) or host for p in PROVIDERS}
        bases = {p: u.rstrip("/") for p, u in bases.items()}
        auth: dict[str, dict[str, str]] = {}
        key = environ.get("ONFLEET_API_KEY") or (
            LOOPBACK_DEMO_KEY if is_loopback(bases["onfleet"]) else ""
        )
        auth["onfleet"] = onfleet.auth_headers(key) if key else {}
        ht_id, ht_secret = (
            environ.get("HYPERTRACK_ACCOUNT_ID"),
            environ.get("HYPERTRACK_SECRET_KEY"),
        )
        auth["hypertrack"] = (
            hypertrack.auth_headers(ht_id, ht_secret)
            if ht_id and ht_secret
            else hypertrack.auth_headers("fleetsim", LOOPBACK_DEMO_KEY)
            if is_loopback(bases["hypertrack"])
            else {}
        )
        nash_key = environ.get("NASH_API_KEY")
        auth["nash"] = (
            nash.auth_headers(nash_key, environ.get("NASH_ORG_ID", ""))
            if nash_key
            else nash.auth_headers(LOOPBACK_DEMO_KEY)
            if is_loopback(bases["nash"])
            else {}
        )
        deft = environ.get("DEFTSHIP_API_TOKEN")
        auth["deftship"] = (
            deftship.auth_headers(deft)
            if deft
            else deftship.auth_headers(LOOPBACK_DEMO_KEY)
            if is_loopback(bases["deftship"])
            else {}
        )
        return cls(bases=bases, auth=auth)

    def base(self, provider: str) -> str:
        return self.bases.get(provider) or self.bases["onfleet"]

    def headers(self, provider: str) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/json"}
        h.update(self.auth.get(provider, {}))
        return h


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers fit to print: credentials replaced by their scheme and a mask."""
    out = {}
    for k, v in headers.items():
        if k.lower() in ("authorization", "nash-org-id", "x-api-key"):
            scheme = v.split(" ", 1)[0] if " " in v else ""
            out[k] = f"{scheme} ****".strip()
        else:
            out[k] = v
    return out


class Unresolved(LookupError):
    """A reference whose server id is not known (its create failed or has not run)."""


@dataclass(slots=True)
class IdMap:
    """Simulator references (``task:12``) to the ids the server returned."""

    ids: dict[str, str] = field(default_factory=dict)
    #: When a list (``--webhooks``): every ``[ref, server id]`` learnt, in order, so that
    #: another process can resolve the subjects of the events its calls cause.
    journal: list[list[str]] | None = None

    def set(self, ref: str, server_id: str) -> None:
        self.ids[ref] = server_id
        if self.journal is not None:
            self.journal.append([ref, server_id])

    def get(self, ref: str) -> str | None:
        return self.ids.get(ref)

    def map_tasks(self, tasks: Any, run_id: str) -> int:
        """Map every task of a response list through its ``fleetsim_task`` metadata."""
        n = 0
        if not isinstance(tasks, list):
            return 0
        for t in tasks:
            ref = task_ref_of(t, run_id)
            if ref is not None and isinstance(t, dict) and isinstance(t.get("id"), str):
                self.ids[ref] = t["id"]
                if self.journal is not None:
                    self.journal.append([ref, t["id"]])
                n += 1
        return n


def meta_value(obj: Any, name: str) -> Any:
    """The value of Onfleet metadata entry ``name`` on an object (None when absent)."""
    md = obj.get("metadata") if isinstance(obj, dict) else None
    if isinstance(md, list):
        for m in md:
            if isinstance(m, dict) and m.get("name") == name:
                return m.get("value")
    return None


def task_ref_of(task: Any, run_id: str) -> str | None:
    """``task:N`` for a server task created by this run, else None."""
    if meta_value(task, "fleetsim_run") != run_id:
        return None
    n = meta_value(task, "fleetsim_task")
    return f"task:{int(n)}" if isinstance(n, int | float) else None


def resolve_value(value: JsonValue, ids: IdMap, run_id: str) -> JsonValue:
    """A copy of ``value`` with placeholders replaced; raises :class:`Unresolved`."""
    if isinstance(value, str):
        if value.startswith(REF_PREFIX):
            ref = value[len(REF_PREFIX) :]
            got = ids.get(ref)
            if got is None:
                raise Unresolved(ref)
            return got
        return value.replace(RUN_PLACEHOLDER, run_id) if "$" in value else value
    if isinstance(value, list):
        return [resolve_value(v, ids, run_id) for v in value]
    if isinstance(value, dict):
        return {k: resolve_value(v, ids, run_id) for k, v in value.items()}
    return value


def has_placeholder(value: JsonValue) -> bool:
    """Whether :func:`resolve_value` would change anything in ``value`` (every placeholder
    and reference starts with ``$``); a body without one can be sent as it is."""
    if isinstance(value, str):
        return "$" in value
    if isinstance(value, list):
        return any(has_placeholder(v) for v in value)
    if isinstance(value, dict):
        return any(has_placeholder(v) for v in value.values())
    return False


def resolve_path(call: TraceCall, ids: IdMap, run_id: str = "") -> str:
    """The call's path with every ``{name}`` filled from the id map."""
    if not call.params:
        return call.path
    vals = {}
    for k, v in call.params.items():
        if v.startswith(REF_PREFIX):
            got = ids.get(v[len(REF_PREFIX) :])
            if got is None:
                raise Unresolved(v[len(REF_PREFIX) :])
            vals[k] = quote(got, safe="~*")
        else:
            vals[k] = quote(v.replace(RUN_PLACEHOLDER, run_id), safe="~*")
    return call.path.format(**vals)
