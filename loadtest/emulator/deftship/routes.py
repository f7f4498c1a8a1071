"""The emulated Deftship batch-shipment API (``/api/batches``).

Lifecycle: created ``validating`` -> (after ``deftship_validate_s``) ``ready`` when every
item is valid, else ``invalid`` [inf]; add-items and remove-items are refused while
validating, processing or completed and send the batch back to ``validating``; ``ship``
needs ``ready`` and moves it to ``processing``, items complete at
``deftship_ship_items_per_s`` (an item whose ``reference_1`` contains ``FAIL`` fails
[inf]), labels are merged per 100 items, and the batch ends ``completed``.
Failure statuses [inf]: 401 unauthenticated, 404 unknown batch, 409 a status rule,
422 validation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from loadtest.emulator.deftship.model import Batch, Item
from loadtest.emulator.deftship.validate import item_errors
from loadtest.emulator.dialect import DEFTSHIP
from loadtest.emulator.errors import ApiError
from loadtest.emulator.http import ok, query_int, read_json
from loadtest.emulator.services import Runtime
from loadtest.providers.deftship import (
    BASE_PATH,
    ITEM_STATUSES,
    LABEL_GROUP,
    MAX_ITEMS,
    MAX_REMOVE_IDS,
    MSG_BEING_PROCESSED,
    MSG_NOT_FOUND,
    MSG_NOT_READY,
    PER_PAGE,
)

_BUSY = ("validating", "processing", "completed")


class DeftshipApi:
    """Deftship batches in memory (persisted through the runtime's store)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.batches: dict[str, Batch] = {}
        self._running: set[asyncio.Task[None]] = set()
        for d in rt.store.load("deftship-batch"):
            b = Batch.from_record(d)
            self.batches[b.id] = b

    def status_counts(self) -> dict[str, int]:
        return dict(Counter(b.status for b in self.batches.values()))

    def item_counts(self) -> dict[str, int]:
        return dict(Counter(i.status for b in self.batches.values() for i in b.items))

    def _save(self, b: Batch) -> None:
        if self.rt.store.durable:
            self.rt.store.put("deftship-batch", b.id, b.to_record())
        self.rt.commit()

    # -- background work --------------------------------------------------------------
    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def resume(self) -> None:
        for b in self.batches.values():
            if b.status == "validating":
                self._spawn(self._validate(b, b.gen))
            elif b.status == "processing":
                self._spawn(self._ship(b))

    async def close(self) -> None:
        for t in list(self._running):
            t.cancel()
        for t in list(self._running):
            with contextlib.suppress(asyncio.CancelledError):
                await t

    def _start_validation(self, b: Batch) -> None:
        b.status = "validating"
        b.gen += 1
        for item in b.items:
            if item.status in ("valid", "invalid"):
                item.status = "validating"
        self._save(b)
        self._spawn(self._validate(b, b.gen))

    async def _validate(self, b: Batch, gen: int) -> None:
        await self.rt.clock.sleep(self.rt.config.deftship_validate_s)
        if b.gen != gen or b.status != "validating":
            return  # superseded by a later add/remove
        for item in b.items:
            errs = item_errors(item.shipment)
            item.status = "invalid" if errs else "valid"
            item.errors = errs
        b.status = "invalid" if any(i.status == "invalid" for i in b.items) else "ready"
        self._save(b)

    async def _ship(self, b: Batch) -> None:
        rate = self.rt.config.deftship_ship_items_per_s
        for item in b.items:
            if item.status != "valid":
                continue
            parcels = (
                item.shipment.get("package_list", []) if isinstance(item.shipment, dict) else []
            )
            ref = " ".join(str(p.get("reference_1") or "") for p in parcels if isinstance(p, dict))
            if "FAIL" in ref:
                item.status = "failed"
                item.errors = {"shipment": ["The carrier refused the label (simulated)."]}
            else:
                item.status = "completed"
                item.tracking_number = "94001118992" + self.rt.ids.digits(11)
            done = sum(1 for i in b.items if i.status in ("completed", "failed"))
            groups = (done + LABEL_GROUP - 1) // LABEL_GROUP
            b.labels = [
                f"https://labels.fleetsim.invalid/batches/batch-{b.id}-{k + 1}.pdf"
                for k in range(groups)
            ]
            self._save(b)
            await self.rt.clock.sleep(1.0 / rate if rate > 0 else 0)
        b.status = "completed"
        self._save(b)

    # -- routes -----------------------------------------------------------------------
    def _get(self, batch_id: str) -> Batch:
        b = self.batches.get(batch_id)
        if b is None:
            raise ApiError(404, MSG_NOT_FOUND)
        return b

    def _items(self, shipments: Any, room: int) -> list[Item]:
        if not isinstance(shipments, list) or not shipments:
            raise DEFTSHIP.invalid(
                "The batch shipments field is required.",
                errors={"batch_shipments": ["The batch shipments field is required."]},
            )
        if len(shipments) > room:
            raise DEFTSHIP.invalid(
                f"A batch holds at most {MAX_ITEMS} items.",
                errors={
                    "batch_shipments": [f"The batch may not have more than {MAX_ITEMS} items."]
                },
            )
        return [Item(self.rt.ids.uuid(), s) for s in shipments]

    async def create(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise DEFTSHIP.invalid("The body must be a JSON object.")
        errs: dict[str, list[str]] = {}
        shipper = body.get("shipper_id")
        if isinstance(shipper, bool) or not isinstance(shipper, int):
            errs["shipper_id"] = ["The shipper id must be an integer."]
        service = body.get("service")
        if not isinstance(service, str) or not service:
            errs["service"] = ["The service field is required."]
        if errs:
            raise DEFTSHIP.invalid("The given data was invalid.", errors=errs)
        assert isinstance(service, str)
        items = self._items(body.get("batch_shipments"), MAX_ITEMS)
        bid = self.rt.ids.digits(8)
        while bid in self.batches:
            bid = self.rt.ids.digits(8)
        b = Batch(bid, service, str(shipper), items)
        self.batches[bid] = b
        self._start_validation(b)
        return ok(
            {
                "success": True,
                "data": {
                    "id": bid,
                    "status": "validating",
                    "default_service": b.service,
                    "default_shipper_id": b.shipper_id,
                },
            }
        )

    async def add_items(self, request: Request) -> Response:
        b = self._get(request.path_params["batchId"])
        body = await read_json(request)
        if b.status in _BUSY:
            raise ApiError(409, MSG_BEING_PROCESSED)
        shipments = body.get("batch_shipments") if isinstance(body, dict) else None
        b.items.extend(self._items(shipments, MAX_ITEMS - len(b.items)))
        self._start_validation(b)
        return ok({"success": True, "data": self._summary(b)})

    async def remove_items(self, request: Request) -> Response:
        b = self._get(request.path_params["batchId"])
        body = await read_json(request)
        if b.status in _BUSY:
            raise ApiError(409, MSG_BEING_PROCESSED)
        ids = body.get("batch_shipment_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(x, str) for x in ids):
            raise DEFTSHIP.invalid(
                "The batch shipment ids field is required.",
                errors={"batch_shipment_ids": ["An array of item ids is required."]},
            )
        if len(ids) > MAX_REMOVE_IDS:
            raise DEFTSHIP.invalid(f"At most {MAX_REMOVE_IDS} ids can be removed at once.")
        known = {i.id for i in b.items}
        unknown = [x for x in ids if x not in known]
        if unknown:
            raise DEFTSHIP.invalid(
                "Some items are not in this batch.",
                errors={"batch_shipment_ids": [f"Unknown item {x}." for x in unknown[:20]]},
            )
        drop = set(ids)
        b.items = [i for i in b.items if i.id not in drop]
        self._start_validation(b)
        return ok({"success": True, "data": self._summary(b)})

    async def ship(self, request: Request) -> Response:
        b = self._get(request.path_params["batchId"])
        if b.status == "invalid":
            bad = [i.id for i in b.items if i.status == "invalid"]
            raise ApiError(
                422,
                "The batch has invalid items; remove or fix them first.",
                data={"invalid_order_ids": bad},
            )
        if b.status != "ready":
            raise ApiError(409, MSG_NOT_READY)
        b.status = "processing"
        b.labels = []
        self._save(b)
        self._spawn(self._ship(b))
        return ok({"success": True, "data": self._summary(b)})

    def _summary(self, b: Batch) -> dict[str, Any]:
        c = Counter(i.status for i in b.items)
        total = len(b.items)
        done = c["completed"] + c["failed"]
        return {
            "id": b.id,
            "status": b.status,
            "default_service": b.service,
            "default_shipper_id": b.shipper_id,
            "results": {
                "total_count": total,
                "valid_count": c["valid"] + c["completed"] + c["failed"],
                "invalid_count": c["invalid"],
                "completed_count": c["completed"],
                "failed_count": c["failed"],
                "completion_percentage": f"{(100 * done // total) if total else 0}%",
            },
        }

    async def get(self, request: Request) -> Response:
        b = self._get(request.path_params["batchId"])
        q = request.query_params
        page = query_int(request, "page", minimum=1) or 1
        status = q.get("status") or None
        if status is not None and status not in ITEM_STATUSES:
            raise DEFTSHIP.invalid(
                "The selected status is invalid.",
                errors={"status": [f"Allowed: {', '.join(ITEM_STATUSES)}."]},
            )
        items = [i for i in b.items if status is None or i.status == status]
        path = f"{request.base_url}".rstrip("/") + f"{BASE_PATH}/{b.id}"
        last_page = max(1, (len(items) + PER_PAGE - 1) // PER_PAGE)
        chunk = items[(page - 1) * PER_PAGE : page * PER_PAGE]
        data = self._summary(b)
        if b.labels is not None:
            data["labels"] = b.labels
        data["items"] = {
            "current_page": page,
            "data": [i.to_json() for i in chunk],
            "first_page_url": f"{path}?page=1",
            "from": (page - 1) * PER_PAGE + 1 if chunk else None,
            "next_page_url": f"{path}?page={page + 1}" if page < last_page else None,
            "path": path,
            "per_page": PER_PAGE,
            "prev_page_url": f"{path}?page={page - 1}" if page > 1 else None,
            "to": (page - 1) * PER_PAGE + len(chunk) if chunk else None,
        }
        return ok({"success": True, "data": data})

    def routes(self) -> list[BaseRoute]:
        return [
            Route(BASE_PATH, self.create, methods=["POST"]),
            Route(f"{BASE_PATH}/{{batchId}}", self.get, methods=["GET"]),
            Route(f"{BASE_PATH}/{{batchId}}/add-items", self.add_items, methods=["PUT"]),
            Route(f"{BASE_PATH}/{{batchId}}/remove-items", self.remove_items, methods=["PUT"]),
            Route(f"{BASE_PATH}/{{batchId}}/ship", self.ship, methods=["POST"]),
        ]
