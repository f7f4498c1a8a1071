"""Does the target's clock run at the replay's speed?

A replay at ``--speedup X`` sends a simulated second of calls in 1/X wall seconds.  An
emulator started with ``--time-scale X`` counts its rate-limit windows, latencies and
timed transitions in the same simulated seconds, so the trace meets the limits it was
paced for.  When the two differ, a paced trace meets limits X/scale times tighter (or
looser) than the real platform's, and the run measures the mismatch rather than the
platform.

The emulator answers ``GET /emulator/v1/info`` with its ``time_scale``; a real API has
no such route (404), and then nothing is said: against a real API the speedup is the
user's choice (see loadtest/README.md, "Time scale").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
import orjson

from loadtest.providers.onfleet import CONTROL_PATH
from loadtest.replay.wire import redact_url
from sim.errors import UserError

INFO_PATH = f"{CONTROL_PATH}/info"
#: The check must not hold up a run: a target slower than this is not asked again.
INFO_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class TargetClock:
    """What the emulator's info route said (None: not an emulator, or no answer)."""

    time_scale: float
    profile: str


def fetch_target_clock(
    base: str, headers: Mapping[str, str], timeout_s: float = INFO_TIMEOUT_S
) -> TargetClock | None:
    """The target's time scale from its info route, or None when it has none (a real
    API's 404, an error, no answer or an answer without a numeric ``time_scale``)."""
    try:
        r = httpx.get(base.rstrip("/") + INFO_PATH, headers=dict(headers), timeout=timeout_s)
    except httpx.HTTPError:
        return None  # a dead target is pre-flight's business, not this check's
    if r.status_code != 200:
        return None
    try:
        doc = orjson.loads(r.content)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    scale = doc.get("time_scale")
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
        return None
    return TargetClock(float(scale), str(doc.get("profile", "")))


def mismatch(speedup: float, clock: TargetClock | None, base: str) -> str | None:
    """One line describing a speedup the target's clock does not match, or None."""
    if clock is None or math.isclose(speedup, clock.time_scale, rel_tol=1e-6):
        return None
    return (
        f"--speedup {speedup:g} but the emulator at {redact_url(base)} runs at time scale "
        f"{clock.time_scale:g}, so its rate limits and latencies are "
        f"{speedup / clock.time_scale:.3g}x tighter than the trace was paced for: start it "
        f"with 'fleetsim emulate --time-scale {speedup:g}' or replay with "
        f"--speedup {clock.time_scale:g}"
    )


def check_time_scale(
    speedup: float, base: str, headers: Mapping[str, str], strict: bool
) -> str | None:
    """The warning to print when the target's clock does not match ``speedup`` (None
    when it matches or the target is not an emulator).  With ``strict`` a mismatch is a
    :class:`UserError` (exit 2, nothing sent)."""
    problem = mismatch(speedup, fetch_target_clock(base, headers), base)
    if problem is not None and strict:
        raise UserError(f"--strict-time: {problem}")
    return problem
