"""The emulated Nash API: batch jobs and their lifecycle.

``POST /v1/batch_job`` creates a job (validation and quotes: :mod:`.build`); a new job
emits ``delivery.created``.  Then:

* ``POST /v1/select_quote {quoteId}`` dispatches the job to that quote's provider;
  ``POST /v1/jobs/{id}/autodispatch`` to the winner quote (requoting first when it has
  expired).  Each package's ``delivery`` then advances on the emulator's clock
  (:mod:`.lifecycle`), emitting ``delivery.<status>`` (and ``task.<status>`` when the
  task's status changes) at each step.
* ``POST /v1/jobs/{id}/batch/{batchId}/refresh_quotes`` requotes (new quote ids).
* ``PATCH /v1/jobs/{id}/{cfgId}`` changes one package and requotes the batch.
* ``POST /v1/jobs/{id}/cancel`` cancels the whole job, ``POST /v1/jobs/{id}/{cfg_|tsk_
  id}/cancel`` one package.
* ``GET /v1/jobs/{id}`` answers the job as of the clock.

Refusals [inf where Nash documents no status]: a second selection, a refresh or a PATCH
after a quote is selected, anything on a finished job: 409 ``INVALID_STATE_TRANSITION``
(the PATCH: 400 ``DISALLOWED_OPERATION``, "the fleet refuses changes once a quote is
selected"); an expired quote: 400 ``DISALLOWED_OPERATION``; a cancel once the package is
picked up (``pickup_complete`` or later): 409; no successful quote to autodispatch: 404
``NO_VALID_QUOTES``.  A refused request changes nothing (``_api_error`` rolls back and
every check runs before the first change).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from loadtest.emulator.dialect import NASH
from loadtest.emulator.errors import ApiError
from loadtest.emulator.http import ok, read_json
from loadtest.emulator.nash.build import JobBuilder
from loadtest.emulator.nash.lifecycle import Life, iso_at, plan
from loadtest.emulator.nash.timer import DueTimer
from loadtest.emulator.services import Runtime
from loadtest.emulator.webhooks.payloads import nash_body
from loadtest.providers.nash import (
    BASE_PATH,
    DELIVERY_CANCELED,
    DELIVERY_FAILED,
    DELIVERY_FINAL,
    DELIVERY_STATUSES,
    E_DISALLOWED,
    E_INVALID_STATE,
    E_NO_VALID_QUOTES,
    TASK_CANCELED,
    TASK_COMPLETED,
    TASK_FAILED,
    TASK_RUNNING,
)

# The task status each delivery status moves the task to (the others leave it).
_TASK_OF = {
    DELIVERY_STATUSES[0]: TASK_RUNNING,
    "dropoff_complete": TASK_COMPLETED,
    DELIVERY_FAILED: TASK_FAILED,
}
_PICKED_UP = DELIVERY_STATUSES.index("pickup_complete")
_TASK_FINAL = (TASK_COMPLETED, TASK_FAILED, TASK_CANCELED)


def _state_error(message: str) -> ApiError:
    return ApiError(409, message, code=E_INVALID_STATE)


def _disallowed(message: str) -> ApiError:
    return ApiError(400, message, code=E_DISALLOWED)


class NashApi:
    """Nash batch jobs in memory (persisted through the runtime's store)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.builder = JobBuilder(rt)
        self.jobs: dict[str, dict[str, Any]] = {}
        self.by_external: dict[str, str] = {}
        self.by_quote: dict[str, str] = {}  # quote id -> job id
        self.lives: dict[str, Life] = {}  # selected jobs' clocks, by job id
        self.timer = DueTimer(rt.clock, self._fire)
        for job in rt.store.load("nash-job"):
            self._index(job)
        for rec in rt.store.load("nash-life"):
            life = Life.from_json(rec)
            self.lives[life.job_id] = life
            self._schedule(life)

    def _index(self, job: dict[str, Any]) -> None:
        self.jobs[job["id"]] = job
        if job.get("externalIdentifier"):
            self.by_external[job["externalIdentifier"]] = job["id"]
        self._index_quotes(job)

    def _index_quotes(self, job: dict[str, Any]) -> None:
        b = job["batch"]
        for q in (*b["quotes"], *b["failedQuotes"]):
            self.by_quote[q["id"]] = job["id"]

    def _save(self, job: dict[str, Any]) -> None:
        if self.rt.store.durable:
            self.rt.store.put("nash-job", job["id"], job)
            life = self.lives.get(job["id"])
            if life is not None:
                self.rt.store.put("nash-life", life.job_id, life.to_json())

    def status_counts(self) -> dict[str, int]:
        return dict(Counter("active" if j["isActive"] else "inactive" for j in self.jobs.values()))

    def resume(self) -> None:
        """At start: run the timer for the jobs a restart found in flight."""
        self.timer.start()

    async def close(self) -> None:
        await self.timer.close()

    # -- the clock -------------------------------------------------------------------
    def _schedule(self, life: Life) -> None:
        steps = plan(life.provider, self.rt.config)
        if life.applied < len(steps) and self.jobs.get(life.job_id, {}).get("isActive"):
            self.timer.schedule(life.job_id, life.start_s + steps[life.applied][0])
        else:
            self.timer.cancel(life.job_id)

    def _advance(self, job_id: str) -> bool:
        """Apply every status of the job that is due by the clock; True if any was."""
        life = self.lives.get(job_id)
        if life is None:
            return False
        job = self.jobs[job_id]
        steps = plan(life.provider, self.rt.config)
        now_s = self.rt.clock.now_s()
        changed = False
        while (
            job["isActive"]
            and life.applied < len(steps)
            and life.start_s + steps[life.applied][0] <= now_s
        ):
            offset, status = steps[life.applied]
            life.applied += 1
            self._apply(job, status, iso_at(life.start_s + offset))
            changed = True
        if changed:
            self._save(job)
        self._schedule(life)
        return changed

    def _fire(self, job_id: str) -> None:
        """The timer's callback: the job's next status is due."""
        if self._advance(job_id):
            self.rt.commit()

    def _apply(self, job: dict[str, Any], status: str, at: str) -> None:
        """Every live delivery of the job takes ``status`` (stamped ``at``)."""
        task_status = _TASK_OF.get(status)
        for cfg in job["jobConfigurations"]:
            d = cfg["delivery"]
            if d is None or d["status"] in DELIVERY_FINAL:
                continue  # cancelled before or after the selection
            d["status"] = status
            d["updatedAt"] = at
            d["statusHistory"].append({"status": status, "createdAt": at})
            if task_status is not None:
                cfg["tasks"][0]["status"] = task_status
        if status in DELIVERY_FINAL:
            job["isActive"] = False
        self._emit("delivery", status, job)
        if task_status is not None:
            self._emit("task", task_status, job)

    def _emit(self, kind: str, event: str, job: dict[str, Any]) -> None:
        events = self.rt.events
        if events.wants("nash", f"{kind}.{event}"):
            # A snapshot, serialised once: the job changes again before the delivery is
            # built when several statuses fall due at once.  The engine's orjson.dumps
            # embeds the Fragment as it is.
            # (nash_body's shape, whose signature wants a dict.)
            body = {"type": kind, "event": event, "data": orjson.Fragment(orjson.dumps(job))}
            events.emit("nash", f"{kind}.{event}", job["id"], body)

    # -- lookups -----------------------------------------------------------------------
    def _job(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            raise NASH.not_found(f"Job {job_id}")
        if self._advance(job_id):
            # Committed at once: a refusal later in this request rolls back its own
            # writes, never the statuses (and events) the clock had made due.
            self.rt.commit()
        return job

    @staticmethod
    def _selected(job: dict[str, Any]) -> dict[str, Any] | None:
        sel: dict[str, Any] | None = job["batch"].get("selectedQuote")
        return sel

    def _check_open(self, job: dict[str, Any], action: str) -> None:
        if not job["isActive"]:
            raise _state_error(f"Job {job['id']} is no longer active: it cannot {action}")

    # -- handlers ----------------------------------------------------------------------
    async def create_batch_job(self, request: Request) -> Response:
        body = await read_json(request)
        sides, windows = self.builder.validate(body)
        ext = body.get("externalIdentifier")
        if ext and ext in self.by_external:
            return ok(self._job(self.by_external[ext]))
        kind = self.builder.batch_type(sides, windows)
        job = self.builder.build(body, sides, kind)
        self._index(job)
        self._save(job)
        # A new job only (an idempotent replay returned above): delivery.created.
        events = self.rt.events
        if events.wants("nash", "delivery.created"):
            events.emit(
                "nash", "delivery.created", job["id"], nash_body("delivery", "created", job)
            )
        self.rt.commit()
        return ok(job)

    async def get_job(self, request: Request) -> Response:
        return ok(self._job(request.path_params["jobId"]))

    def _dispatch(self, job: dict[str, Any], quote: dict[str, Any]) -> None:
        """Select ``quote``: every package not cancelled gets a delivery, at the first
        status; the job's clock starts now."""
        now_s = self.rt.clock.now_s()
        now = iso_at(now_s)
        batch = job["batch"]
        summary = {
            "id": quote["id"],
            "providerId": quote["providerId"],
            "providerName": quote["providerName"],
        }
        batch["selectedQuote"] = {**summary, "totalPriceCents": quote["totalPriceCents"]}
        batch["winnerQuote"] = summary
        batch["providerId"] = quote["providerId"]
        for cfg in job["jobConfigurations"]:
            task = cfg["tasks"][0]
            if task["status"] in _TASK_FINAL:
                continue
            task["providerId"] = quote["providerId"]
            cfg["delivery"] = {
                "id": self.rt.ids.prefixed("dlv_"),
                "status": None,
                "providerId": quote["providerId"],
                "providerName": quote["providerName"],
                "quoteId": quote["id"],
                "currency": quote["currency"],
                "createdAt": now,
                "updatedAt": now,
                "statusHistory": [],
            }
        life = Life(job["id"], quote["providerId"], now_s)
        self.lives[job["id"]] = life
        self._advance(job["id"])  # the first status is due at once
        self._save(job)

    def _quote_of(self, job: dict[str, Any], quote_id: str) -> dict[str, Any]:
        b = job["batch"]
        quotes: list[dict[str, Any]] = [*b["quotes"], *b["failedQuotes"]]
        for q in quotes:
            if q["id"] == quote_id:
                return q
        raise NASH.not_found(f"Quote {quote_id}")

    def _expired(self, quote: dict[str, Any]) -> bool:
        # Nash's timestamps are UTC without a zone.
        expires = datetime.fromisoformat(quote["expireTime"]).replace(tzinfo=UTC).timestamp()
        return self.rt.clock.now_s() > expires

    async def select_quote(self, request: Request) -> Response:
        body = await read_json(request)
        qid = body.get("quoteId") if isinstance(body, dict) else None
        if not isinstance(qid, str) or not qid:
            raise NASH.invalid("quoteId (a string) is required")
        job_id = self.by_quote.get(qid)
        if job_id is None:
            raise NASH.not_found(f"Quote {qid}")
        job = self._job(job_id)
        quote = self._quote_of(job, qid)
        self._check_open(job, "select a quote")
        if self._selected(job) is not None:
            raise _state_error(f"Job {job_id} already has a selected quote")
        if self._expired(quote):
            raise _disallowed(
                f"Quote {qid} expired at {quote['expireTime']}: refresh the batch's quotes"
            )
        self._dispatch(job, quote)
        self.rt.commit()
        return ok(job)

    async def autodispatch(self, request: Request) -> Response:
        job = self._job(request.path_params["jobId"])
        self._check_open(job, "be dispatched")
        if self._selected(job) is not None:
            raise _state_error(f"Job {job['id']} already has a selected quote")
        winner = job["batch"]["winnerQuote"]
        if winner is None:
            raise ApiError(
                404, f"Job {job['id']} has no successful quote to dispatch", code=E_NO_VALID_QUOTES
            )
        quote = self._quote_of(job, winner["id"])
        if self._expired(quote):
            self._requote(job)
            if job["batch"]["winnerQuote"] is None:
                raise ApiError(
                    404, f"Job {job['id']} has no successful quote", code=E_NO_VALID_QUOTES
                )
            quote = self._quote_of(job, job["batch"]["winnerQuote"]["id"])
        self._dispatch(job, quote)
        self.rt.commit()
        return ok(job)

    def _requote(self, job: dict[str, Any], packages: list[Any] | None = None) -> None:
        """New quotes for the job's packages (``packages``: changed ones to validate)."""
        pkgs = (
            packages if packages is not None else [c["package"] for c in job["jobConfigurations"]]
        )
        sides, windows = self.builder.validate({"packages": pkgs})
        kind = self.builder.batch_type(sides, windows)
        b = job["batch"]
        for q in (*b["quotes"], *b["failedQuotes"]):
            self.by_quote.pop(q["id"], None)
        self.builder.quote_batch(job, sides, kind)
        for cfg, s in zip(job["jobConfigurations"], sides, strict=True):
            cfg["pickupLocation"] = [s["pickup"]["lon"], s["pickup"]["lat"]]
            cfg["dropoffLocation"] = [s["dropoff"]["lon"], s["dropoff"]["lat"]]
        self._index_quotes(job)

    async def refresh_quotes(self, request: Request) -> Response:
        job = self._job(request.path_params["jobId"])
        batch_id = request.path_params["batchId"]
        if job["batch"]["id"] != batch_id:
            raise NASH.not_found(f"Batch {batch_id} of job {job['id']}")
        self._check_open(job, "be requoted")
        if self._selected(job) is not None:
            raise _state_error(f"Job {job['id']} already has a selected quote")
        self._requote(job)
        self._save(job)
        self.rt.commit()
        return ok(job)

    async def patch_config(self, request: Request) -> Response:
        job = self._job(request.path_params["jobId"])
        cfg_id = request.path_params["cfgId"]
        configs = job["jobConfigurations"]
        index = next((i for i, c in enumerate(configs) if c["id"] == cfg_id), None)
        if index is None:
            raise NASH.not_found(f"Job configuration {cfg_id} of job {job['id']}")
        body = await read_json(request)
        if not isinstance(body, dict) or not body:
            raise NASH.invalid("The body must be a JSON object with the package fields to change")
        if "id" in body:
            raise NASH.invalid("id cannot be changed")
        if self._selected(job) is not None or not job["isActive"]:
            raise _disallowed(
                f"Job {job['id']} has a selected quote: the fleet no longer accepts changes"
            )
        if configs[index]["tasks"][0]["status"] in _TASK_FINAL:
            raise _state_error(f"Job configuration {cfg_id} is cancelled")
        pkg = dict(configs[index]["package"])
        for side in ("pickup", "dropoff"):
            # A new address replaces the old position unless the patch gives one too.
            if side + "Address" in body and not (
                {side + "Latitude", side + "Longitude"} & body.keys()
            ):
                pkg.pop(side + "Latitude", None)
                pkg.pop(side + "Longitude", None)
        pkg.update(body)
        pkgs = [c["package"] for c in configs]
        pkgs[index] = pkg
        # Validates every package (the batch type may change) before anything changes.
        self._requote(job, pkgs)
        configs[index]["package"] = pkg
        self._save(job)
        self._emit("task", "updated", job)
        self.rt.commit()
        return ok(job)

    def _cancel(self, job: dict[str, Any], parts: list[dict[str, Any]]) -> None:
        for cfg in parts:
            d = cfg["delivery"]
            status = d["status"] if d is not None else None
            if status in DELIVERY_STATUSES and DELIVERY_STATUSES.index(status) >= _PICKED_UP:
                raise _state_error(f"Job configuration {cfg['id']} is already picked up ({status})")
            if cfg["tasks"][0]["status"] in _TASK_FINAL or (
                d is not None and d["status"] in DELIVERY_FINAL
            ):
                raise _state_error(
                    f"Job configuration {cfg['id']} is already {cfg['tasks'][0]['status']}"
                )
        now = iso_at(self.rt.clock.now_s())
        delivered = False
        for cfg in parts:
            cfg["tasks"][0]["status"] = TASK_CANCELED
            d = cfg["delivery"]
            if d is not None:
                delivered = True
                d["status"] = DELIVERY_CANCELED
                d["updatedAt"] = now
                d["statusHistory"].append({"status": DELIVERY_CANCELED, "createdAt": now})
        if all(c["tasks"][0]["status"] in _TASK_FINAL for c in job["jobConfigurations"]):
            job["isActive"] = False
            self.timer.cancel(job["id"])
        self._save(job)
        self._emit("task", TASK_CANCELED, job)
        if delivered:
            self._emit("delivery", DELIVERY_CANCELED, job)

    async def cancel_job(self, request: Request) -> Response:
        job = self._job(request.path_params["jobId"])
        self._check_open(job, "be cancelled")
        live = [c for c in job["jobConfigurations"] if c["tasks"][0]["status"] not in _TASK_FINAL]
        self._cancel(job, live)
        self.rt.commit()
        return ok(job)

    async def cancel_part(self, request: Request) -> Response:
        job = self._job(request.path_params["jobId"])
        part = request.path_params["partId"]
        cfg = next(
            (c for c in job["jobConfigurations"] if c["id"] == part or c["tasks"][0]["id"] == part),
            None,
        )
        if cfg is None:
            raise NASH.not_found(f"Task or job configuration {part} of job {job['id']}")
        self._check_open(job, "be cancelled")
        self._cancel(job, [cfg])
        self.rt.commit()
        return ok(job)

    def routes(self) -> list[BaseRoute]:
        b = BASE_PATH
        return [
            Route(f"{b}/batch_job", self.create_batch_job, methods=["POST"]),
            Route(f"{b}/select_quote", self.select_quote, methods=["POST"]),
            Route(f"{b}/jobs/{{jobId}}", self.get_job, methods=["GET"]),
            Route(f"{b}/jobs/{{jobId}}/autodispatch", self.autodispatch, methods=["POST"]),
            Route(f"{b}/jobs/{{jobId}}/cancel", self.cancel_job, methods=["POST"]),
            Route(
                f"{b}/jobs/{{jobId}}/batch/{{batchId}}/refresh_quotes",
                self.refresh_quotes,
                methods=["POST"],
            ),
            Route(f"{b}/jobs/{{jobId}}/{{partId}}/cancel", self.cancel_part, methods=["POST"]),
            Route(f"{b}/jobs/{{jobId}}/{{cfgId}}", self.patch_config, methods=["PATCH"]),
        ]
