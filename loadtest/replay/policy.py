"""What the replay knows about each kind of call: which ops create objects, which can be
checked or safely resent after a lost answer, and which open or close a flow (retries and
backoff are in :mod:`loadtest.replay.retry`).

The op sets are derived from the registry in :mod:`loadtest.trace.ops`.  Pure data and
small functions, shared by :mod:`loadtest.replay.executor` and its tests.
"""

from __future__ import annotations

import hashlib
from typing import Any

from loadtest.trace.ops import FLOW_ASYNC as FLOW_ASYNC
from loadtest.trace.ops import FLOW_BATCH as FLOW_BATCH
from loadtest.trace.ops import OPS

#: Ops that create server objects: never blindly re-sent after a lost answer.
CREATES = frozenset(n for n, s in OPS.items() if s.creates)
#: Creates with no way to look them up afterwards (Deftship lists no batches): a lost
#: answer is reported as a failure (``lost_not_resent``) rather than risking a duplicate.
UNCHECKABLE_CREATES = frozenset(n for n, s in OPS.items() if s.creates and s.lost == "fail")
#: Creates the provider deduplicates itself (Nash: ``externalIdentifier``): safe to resend.
IDEMPOTENT_CREATES = frozenset(n for n, s in OPS.items() if s.lost == "idempotent")
#: Polling ops and the flow each one closes.
POLL_FLOWS = {n: s.closes for n, s in OPS.items() if s.closes}
#: Ops that open a flow: a failed submit is a failed flow (its poll is never sent).
SUBMIT_FLOWS = {n: s.opens for n, s in OPS.items() if s.opens}
#: Server id given to an async job whose submit answer was lost but whose tasks were all
#: found: its status poll is not sent, the flow is recorded as recovered.
RECOVERED_JOB = "fleetsim-recovered-job"


def run_phone(phone: str, run_id: str) -> str:
    """A worker phone unique to this replay (E.164, 15 digits).

    The trace carries the simulator's phones, the same in every replay; a target refuses a
    second worker with a phone it already has.  The last 7 digits (which tell a run's
    workers apart) are kept after ``+1`` and 7 digits derived from the run id.
    """
    digits = "".join(ch for ch in phone if ch.isdigit())
    if not run_id or len(digits) < 7:
        return phone
    tag = int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:8], "big") % 10**7
    return f"+1{tag:07d}{digits[-7:]}"


def meta_task(task_body: Any) -> int:
    for m in task_body.get("metadata", []) if isinstance(task_body, dict) else []:
        if isinstance(m, dict) and m.get("name") == "fleetsim_task":
            return int(m["value"])
    return -1
