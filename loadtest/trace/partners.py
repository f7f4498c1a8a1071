"""Trace calls for the partner providers a scenario may also use: Nash and Deftship.

The simulator has no per-provider selection yet, so the trace writer adds these when
:class:`loadtest.trace.onfleet.TraceOptions` names them, mirroring each merchant submission:

* Nash (``nash``): a ``POST /v1/batch_job`` with one package per order of the submission
  that has both a pickup and a dropoff (a batch needs at least two), then
  ``GET /v1/jobs/{jobId}``.
* Deftship (``deftship``): ``POST /api/batches`` with one shipment per dropoff, a poll of
  ``GET /api/batches/{batchId}`` until validation ends, ``POST .../ship``, and a poll until
  shipping ends.

Bodies come from :mod:`loadtest.providers`; each family is its own submission.
"""

from __future__ import annotations

from typing import Any

from loadtest.providers import deftship, nash
from loadtest.trace import ops
from loadtest.trace.build import Builder, phone, ref, split_ids
from loadtest.trace.format import RUN_PLACEHOLDER

#: Deftship's validation and shipping are asynchronous; these polls wait for them.
POLL_S = 2.0


def add_nash(b: Builder, subs: Any, tasks: Any) -> None:
    """One Nash batch job per submission with at least two complete orders; a submission
    over ``nash.MAX_PACKAGES`` packages becomes several jobs (``nashjob:7``, then
    ``nashjob:7.1``, ``nashjob:7.2``, …), as a client splits what one request may carry."""
    for s in subs.itertuples(index=False):
        rows = [tasks[t] for t in split_ids(s.task_ids)]
        by_order: dict[int, dict[bool, Any]] = {}
        for r in rows:
            by_order.setdefault(int(r.order_id), {})[bool(r.is_pickup)] = r
        packages = []
        tids: list[int] = []
        for order, sides in sorted(by_order.items()):
            if True in sides and False in sides:
                p, d = sides[True], sides[False]
                packages.append(
                    nash.package_body(
                        (float(p.lat), float(p.lon)),
                        (float(d.lat), float(d.lon)),
                        pickup_name=f"Store {order}",
                        dropoff_name=f"Customer {order}",
                        dropoff_phone=phone(order),
                    )
                )
                tids += [int(p.task_id), int(d.task_id)]
        if len(packages) < 2:
            continue
        sid = int(s.submission_id)
        step = nash.MAX_PACKAGES
        for k, start in enumerate(range(0, len(packages), step)):
            key = f"{sid}" if k == 0 else f"{sid}.{k}"  # the first keeps the one-job name
            chunk_tids = tuple(tids[2 * start : 2 * (start + step)])  # two tasks a package
            body = nash.batch_job_body(
                packages[start : start + step], external_id=f"fleetsim-{RUN_PLACEHOLDER}-{key}"
            )
            create = b.add(
                float(s.sent_s),
                ops.NASH_BATCH_JOB,
                body=body,
                tasks=chunk_tids,
                defines=f"nashjob:{key}",
            )
            b.add(
                float(s.acked_s),
                ops.NASH_JOB_GET,
                params={"jobId": ref("nashjob", key)},
                tasks=chunk_tids,
                deps=[create],
            )


def add_deftship(b: Builder, subs: Any, tasks: Any) -> None:
    """One Deftship batch per submission with dropoffs: create, validate, ship."""
    for s in subs.itertuples(index=False):
        drops = [tasks[t] for t in split_ids(s.task_ids)]
        drops = [r for r in drops if not bool(r.is_pickup)]
        if not drops:
            continue
        sid = int(s.submission_id)
        shipments = [
            deftship.shipment_body(
                deftship.address(
                    f"Customer {int(r.order_id)}",
                    f"{int(r.task_id) + 1} Main St",
                    "New York",
                    "10001",
                    "NY",
                ),
                reference=f"fleetsim-{int(r.task_id)}",
            )
            for r in drops[: deftship.MAX_ITEMS]
        ]
        tids = tuple(int(r.task_id) for r in drops[: deftship.MAX_ITEMS])
        t = float(s.sent_s)
        batch = ref("deftbatch", sid)
        create = b.add(
            t,
            ops.DEFTSHIP_BATCH_CREATE,
            body=deftship.batch_body(shipments),
            tasks=tids,
            defines=f"deftbatch:{sid}",
        )
        ready = b.add(
            t,
            ops.DEFTSHIP_WAIT_READY,
            params={"batchId": batch},
            tasks=tids,
            deps=[create],
            poll_s=POLL_S,
        )
        ship = b.add(
            t,
            ops.DEFTSHIP_SHIP,
            params={"batchId": batch},
            body={},
            tasks=tids,
            deps=[ready],
        )
        b.add(
            t,
            ops.DEFTSHIP_WAIT_SHIPPED,
            params={"batchId": batch},
            tasks=tids,
            deps=[ship],
            poll_s=POLL_S,
        )
