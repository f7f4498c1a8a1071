"""Building trace calls: drafts, send order and dependency families.

Concepts held here: :class:`Builder` (calls drafted in any order, then numbered in send
order by :func:`finish`), dependency families (connected components over ``deps``, the
unit a distributed replay partitions), placeholders (:func:`ref`, :func:`metadata`) and
the small converters the writers share.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loadtest.trace.expect import Predictor
from loadtest.trace.format import REF_PREFIX, RUN_PLACEHOLDER, JsonValue, TraceCall
from loadtest.trace.ops import OpSpec
from loadtest.trace.pacing import pace


def ref(kind: str, n: int | str) -> str:
    return f"{REF_PREFIX}{kind}:{n}"


def metadata(kind: str, n: int) -> list[dict[str, Any]]:
    """Onfleet metadata carrying the simulator reference and the replay's run id."""
    return [
        {"name": f"fleetsim_{kind}", "type": "number", "value": n, "visibility": ["api"]},
        {"name": "fleetsim_run", "type": "string", "value": RUN_PLACEHOLDER, "visibility": ["api"]},
    ]


@dataclass(slots=True)
class Draft:
    at_s: float
    provider: str
    op: str
    method: str
    path: str
    params: dict[str, str]
    body: JsonValue
    tasks: tuple[int, ...]
    worker: int
    deps: list[int]
    after: list[int]
    poll_s: float = 0.0
    defines: str = ""
    driver_app: bool = False


@dataclass(slots=True)
class Builder:
    drafts: list[Draft] = field(default_factory=list)

    def add(
        self,
        at_s: float,
        spec: OpSpec,
        *,
        params: dict[str, str] | None = None,
        body: JsonValue = None,
        tasks: tuple[int, ...] = (),
        worker: int = -1,
        deps: Iterable[int | None] = (),
        after: Iterable[int | None] = (),
        poll_s: float = 0.0,
        defines: str = "",
    ) -> int:
        dep_list = sorted({d for d in deps if d is not None})
        # A call never runs before what it waits for, even where the simulator's clock
        # put them at the same instant.
        at = max([at_s, *(self.drafts[d].at_s for d in dep_list)])
        aft = sorted({a for a in after if a is not None and a not in dep_list})
        self.drafts.append(
            Draft(
                at,
                spec.provider,
                spec.name,
                spec.method,
                spec.path,
                params or {},
                body,
                tasks,
                worker,
                dep_list,
                aft,
                poll_s,
                defines,
                spec.driver_app,
            )
        )
        return len(self.drafts) - 1


def epoch_ms(start_ms: int, s: Any) -> int | None:
    v = float(s)
    return None if math.isnan(v) else start_ms + round(v * 1000)


def split_ids(s: Any) -> list[int]:
    """Task ids from a table cell: a list (the current layout) or ``;``-joined text."""
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return []
    if not isinstance(s, str):
        return [int(x) for x in s]
    return [int(x) for x in s.split(";") if x.strip()]


def phone(n: int) -> str:
    return f"+1415{5550000 + n % 10000:07d}"


def finish(b: Builder, pacing: Mapping[str, float] | None = None) -> list[TraceCall]:
    """Pace the drafts through each provider's client limiter (``pacing``: calls/s per
    provider, :mod:`loadtest.trace.pacing`), number them in send order, compute
    dependency families, and predict each call's webhooks
    (:class:`~loadtest.trace.expect.Predictor`, in send order)."""
    if pacing:
        pace(b.drafts, pacing)
    order = sorted(range(len(b.drafts)), key=lambda i: (b.drafts[i].at_s, i))
    new_id = {old: new for new, old in enumerate(order)}
    parent = list(range(len(order)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for old, d in enumerate(b.drafts):
        for dep in d.deps:
            ra, rb = find(new_id[old]), find(new_id[dep])
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    calls = []
    predict = Predictor().events
    for old in order:
        d = b.drafts[old]
        i = new_id[old]
        calls.append(
            TraceCall(
                id=i,
                at_s=d.at_s,
                provider=d.provider,
                op=d.op,
                method=d.method,
                path=d.path,
                params=d.params,
                body=d.body,
                tasks=d.tasks,
                worker=d.worker,
                deps=tuple(sorted(new_id[x] for x in d.deps)),
                after=tuple(sorted(new_id[x] for x in d.after)),
                family=find(i),
                poll_s=d.poll_s,
                defines=d.defines,
                events=predict(d.op, d.params, d.body, d.tasks, d.worker, d.defines),
            )
        )
    return calls
