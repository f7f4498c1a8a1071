"""Pre-flight: before the day starts, check that every provider the trace calls answers,
accepts its credentials, and keeps a sane clock.

Concepts held here: :data:`PROBES` (the cheapest authenticated call per provider: Onfleet's
documented ``GET /auth/test``; for Nash, Deftship and HyperTrack, which document no such
call, a GET of a job, batch or order that cannot exist, where a 404 proves the credential
was accepted and a 401/403 that it was not [inf]), :class:`ProbeResult` (one provider's
answer, judged) and :func:`preflight` (every probe at once, each bounded, so the whole
check takes at most about :data:`PROBE_TIMEOUT_S`).  Each failure is one line that names
the fix.  Probes read nothing and change nothing on the target; no trace call is sent.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import orjson

from loadtest.providers import deftship, hypertrack, nash, onfleet
from loadtest.replay.wire import CREDENTIAL_ENV, Targets, redact_url

#: Each probe's whole budget (connect and answer), so the check ends within about 2 s.
PROBE_TIMEOUT_S = 1.5
#: A clock further off than this is an error [inf]: reconciliation looks for the run's
#: tasks from 60 s before its start by the *target's* clock, and webhook delivery times
#: are judged against ours, so half that margin is the most we tolerate.
MAX_CLOCK_OFFSET_S = 30.0
#: An id no real job, batch or order has: the probe's GET must answer 404 once authorised.
PROBE_ID = "fleetsim-preflight-0000"

#: provider -> (path of the probe, the statuses that prove the credential was accepted).
PROBES: Mapping[str, tuple[str, frozenset[int]]] = {
    "onfleet": (f"{onfleet.BASE_PATH}/auth/test", frozenset({200})),
    "nash": (f"{nash.BASE_PATH}/jobs/{PROBE_ID}", frozenset({200, 404})),
    "deftship": (f"{deftship.BASE_PATH}/{PROBE_ID}", frozenset({200, 404})),
    "hypertrack": (f"{hypertrack.BASE_PATH}/{PROBE_ID}", frozenset({200, 404})),
}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One provider's probe: ``problem`` is "" when it passed, else one line with the fix;
    ``clock_offset_s`` is the target's clock minus ours (None without a Date header)."""

    provider: str
    url: str
    status: int
    problem: str = ""
    clock_offset_s: float | None = None

    @property
    def ok(self) -> bool:
        return not self.problem


def _error_code(body: bytes) -> str:
    """The provider's error code or message from an error body, if it has one."""
    try:
        doc = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(doc, dict):
        return ""
    for key in ("code", "error", "message", "detail"):
        v = doc.get(key)
        if isinstance(v, str) and v:
            return v[:80]
        if isinstance(v, dict):
            inner = v.get("code") or v.get("message") or v.get("error")
            if isinstance(inner, str) and inner:
                return inner[:80]
    return ""


def _offset_s(date_header: str | None, sent: float, received: float) -> float | None:
    if not date_header:
        return None
    try:
        server = email.utils.parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError):
        return None
    # The header has whole seconds and was stamped between send and receipt.
    return server - (sent + received) / 2.0


def probe(client: httpx.Client, provider: str, targets: Targets) -> ProbeResult:
    """One provider's probe, judged (never raises)."""
    path, accepted = PROBES[provider]
    base = targets.base(provider)
    url = base + path
    shown = redact_url(base)
    keys = " / ".join(CREDENTIAL_ENV[provider])
    sent = time.time()
    try:
        r = client.get(url, headers=targets.headers(provider))
    except httpx.TimeoutException:
        return ProbeResult(
            provider,
            url,
            0,
            f"{provider}: {shown} did not answer within {PROBE_TIMEOUT_S:g} s: check that "
            f"the target is up and --host/--{provider}-url",
        )
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        return ProbeResult(
            provider,
            url,
            0,
            f"{provider}: cannot connect to {shown} ({reason}): start the target "
            f"(e.g. fleetsim emulate) or fix --host/--{provider}-url",
        )
    offset = _offset_s(r.headers.get("date"), sent, time.time())
    code = _error_code(r.content)
    detail = f"{r.status_code} {code}".strip()
    if r.status_code in (401, 403) and not targets.auth.get(provider):
        problem = f"{keys} not set: {shown} answered {detail} (export it and run again)"
    elif r.status_code in (401, 403):
        problem = f"{keys} rejected by {shown}: {detail}"
    elif r.status_code not in accepted:
        problem = (
            f"{provider}: {shown}{path} answered {detail} to the pre-flight probe "
            f"(expected {' or '.join(str(s) for s in sorted(accepted))}): is this the "
            f"{provider} API? (--skip-preflight to go ahead anyway)"
        )
    elif offset is not None and abs(offset) > MAX_CLOCK_OFFSET_S:
        problem = (
            f"{provider}: the clock of {shown} is {offset:+.0f} s off this machine's "
            f"(more than {MAX_CLOCK_OFFSET_S:g} s): sync the clocks (NTP), or "
            "reconciliation and webhook timings cannot be trusted"
        )
    else:
        problem = ""
    return ProbeResult(provider, url, r.status_code, problem, offset)


def preflight(
    targets: Targets, providers: Iterable[str], timeout_s: float = PROBE_TIMEOUT_S
) -> list[ProbeResult]:
    """Probe every provider in ``providers`` at once; results in provider order."""
    wanted = sorted(set(providers) & set(PROBES))
    if not wanted:
        return []
    timeout = httpx.Timeout(timeout_s, connect=min(1.0, timeout_s))
    with (
        httpx.Client(timeout=timeout, trust_env=False) as client,
        ThreadPoolExecutor(max_workers=len(wanted)) as pool,
    ):
        return list(pool.map(lambda p: probe(client, p, targets), wanted))
