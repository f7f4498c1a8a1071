"""HTTP routes of the emulated Onfleet v2 API and the emulator-only driver app.

Every handler validates at the edge, calls :class:`OnfleetState`, commits the store and
answers.  The driver-app routes live under ``/emulator/v1`` so they can never be mistaken
for (or sent to) a real Onfleet endpoint.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from loadtest.emulator.dialect import ONFLEET
from loadtest.emulator.errors import ApiError
from loadtest.emulator.geocode import valid_location
from loadtest.emulator.http import empty, ok, query_int, raw_json, read_json
from loadtest.emulator.onfleet.encode import batch_bytes
from loadtest.emulator.onfleet.fleet_api import FleetApi
from loadtest.emulator.onfleet.jobs import Jobs
from loadtest.emulator.onfleet.locks import ContainerLocks
from loadtest.emulator.onfleet.model import Task
from loadtest.emulator.onfleet.routes_tasks import TaskOpsApi
from loadtest.emulator.onfleet.state import OnfleetState
from loadtest.emulator.onfleet.validate import bad, batch_subcode, parse_task
from loadtest.providers.onfleet import (
    BASE_PATH,
    CONTROL_PATH,
    E_WRONG_TYPES,
    MAX_BATCH,
)


def _batch_error(exc: ApiError, body: Any) -> dict[str, Any]:
    """A sync batch error entry (``{error:{statusCode,error,message,cause}, task}``)."""
    return {
        "error": {
            "statusCode": exc.status,
            "error": batch_subcode(exc),
            "message": exc.message,
            "cause": exc.cause,
        },
        "task": body,
    }


class OnfleetApi:
    """The route handlers, bound to one :class:`OnfleetState`."""

    def __init__(self, state: OnfleetState) -> None:
        self.state = state
        self.jobs = Jobs(state)
        cfg = state.rt.config
        # The hold is simulated time (1/time_scale of it on the wall clock); the wait is
        # not scaled [inf]: it bounds queueing behind the emulator's own work, which no
        # clock speeds up, so a scaled wait would turn CPU time into 412s.
        self.locks = ContainerLocks(
            cfg.container_lock_hold_ms / cfg.time_scale, cfg.container_lock_wait_ms
        )
        # Organisation, admins, workers, teams, hubs and containers (fleet_api.py).
        self.fleet = FleetApi(self)

    def _commit(self) -> None:
        self.state.rt.commit()

    # -- tasks -------------------------------------------------------------------------
    async def auth_test(self, request: Request) -> Response:
        ip = request.client.host if request.client else "127.0.0.1"
        return ok({"message": f"Hello organization '{self.state.org}' hitting Onfleet from {ip}"})

    async def create_task(self, request: Request) -> Response:
        body = await read_json(request)
        spec = parse_task(body)
        key = spec.container[1] if spec.container else self.state.org
        async with self.locks.hold(key or self.state.org):
            (res,), _ = self.state.create_many([spec], single=True)
            if isinstance(res, ApiError):
                raise res
            self._commit()
        return raw_json(orjson.dumps(res.to_json()))

    async def _batch_bodies(self, request: Request) -> list[Any]:
        body = await read_json(request)
        tasks = body.get("tasks") if isinstance(body, dict) else None
        if not isinstance(tasks, list):
            raise bad('the body must be {"tasks": [...]}', E_WRONG_TYPES)
        if not tasks:
            raise bad("tasks is empty; send 1 to 500 tasks")
        if len(tasks) > MAX_BATCH:
            raise bad(f"{len(tasks)} tasks in one batch; at most {MAX_BATCH} are allowed")
        return tasks

    async def create_batch(self, request: Request) -> Response:
        bodies = await self._batch_bodies(request)
        specs = self.state.parse_many(bodies)
        async with self.locks.hold(self.state.org):
            results, _ = self.state.create_many(specs)
            self._commit()
        created = [r for r in results if isinstance(r, Task)]
        errors = [
            _batch_error(r, b)
            for r, b in zip(results, bodies, strict=True)
            if isinstance(r, ApiError)
        ]
        per_task = self.state.rt.config.latency.batch_per_task_ms
        if per_task <= 0:
            return raw_json(batch_bytes(created, errors))
        # Latency grows with the batch; the tasks already exist (and stay) meanwhile, and
        # other requests run: the answer has each task's fields as created and its shared
        # records (recipients) as they are when it goes, as it always had.
        snapshot = [t.to_json() for t in created]
        await self.state.rt.clock.sleep(per_task * len(bodies) / 1000.0)
        return raw_json(orjson.dumps({"tasks": snapshot, "errors": errors}))

    async def create_batch_async(self, request: Request) -> Response:
        bodies = await self._batch_bodies(request)
        job = self.jobs.submit(bodies)
        return ok({"jobId": job.id, "status": job.status})

    async def batch_status(self, request: Request) -> Response:
        job = self.jobs.jobs.get(request.path_params["jobId"])
        if job is None:
            raise ONFLEET.not_found(f"batch job {request.path_params['jobId']}")
        return ok(self.jobs.status_json(job))

    async def list_all(self, request: Request) -> Response:
        q = request.query_params
        from_ms = query_int(request, "from")
        if from_ms is None:
            raise bad("from (epoch ms) is required")
        to_ms = query_int(request, "to")
        states = None
        if q.get("state"):
            try:
                states = frozenset(int(s) for s in q["state"].split(","))
            except ValueError:
                states = frozenset({-1})
            if not states <= {0, 1, 2, 3}:
                raise bad("state must be a comma list of 0, 1, 2, 3")
        page, last = self.state.list_tasks(
            from_ms, to_ms, q.get("lastId") or None, states, q.get("worker") or None
        )
        out: dict[str, Any] = {"tasks": [t.to_json() for t in page]}
        if last is not None:
            out["lastId"] = last
        return raw_json(orjson.dumps(out))

    async def get_task(self, request: Request) -> Response:
        return raw_json(orjson.dumps(self.state.get(request.path_params["taskId"]).to_json()))

    async def get_short(self, request: Request) -> Response:
        t = self.state.get_short(request.path_params["shortId"])
        return raw_json(orjson.dumps(t.to_json()))

    async def update_task(self, request: Request) -> Response:
        body = await read_json(request)
        tid = request.path_params["taskId"]
        async with self.locks.hold(self.state.org):
            t = self.state.update(tid, body)
            self._commit()
        return raw_json(orjson.dumps(t.to_json()))

    async def delete_task(self, request: Request) -> Response:
        self.state.delete(request.path_params["taskId"])
        self._commit()
        return empty()

    async def complete_task(self, request: Request) -> Response:
        self.state.get(request.path_params["taskId"])  # an unknown id is a 404 first
        body = await read_json(request)
        cd = body.get("completionDetails") if isinstance(body, dict) else None
        if not isinstance(cd, dict) or not isinstance(cd.get("success"), bool):
            raise bad("completionDetails.success (a boolean) is required")
        notes = cd.get("notes") or ""
        if not isinstance(notes, str):
            raise bad("completionDetails.notes must be a string", E_WRONG_TYPES)
        self.state.complete(request.path_params["taskId"], cd["success"], notes)
        self._commit()
        return empty()

    # -- workers, teams, containers -------------------------------------------------
    async def create_worker(self, request: Request) -> Response:
        w = self.state.create_worker(await read_json(request))
        self._commit()
        return ok(w.to_json())

    async def create_team(self, request: Request) -> Response:
        team = self.state.create_team(await read_json(request))
        self._commit()
        return ok(team.to_json())

    async def list_teams(self, request: Request) -> Response:
        return ok([t.to_json() for t in self.state.teams.values()])

    async def get_team(self, request: Request) -> Response:
        return ok(self.state.get_team(request.path_params["teamId"]).to_json())

    # -- the driver app --------------------------------------------------------------
    async def driver_duty(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("onDuty"), bool):
            raise bad("onDuty (a boolean) is required")
        loc = body.get("location")
        if loc is not None and valid_location(loc) is None:
            raise bad("location must be [longitude, latitude]")
        w = self.state.set_duty(request.path_params["workerId"], body["onDuty"], loc)
        self._commit()
        return ok(w.to_json())

    async def driver_move(self, request: Request) -> Response:
        body = await read_json(request)
        loc = body.get("location") if isinstance(body, dict) else None
        if valid_location(loc) is None:
            raise bad("location must be [longitude, latitude]")
        assert isinstance(loc, list)
        w = self.state.move_worker(request.path_params["workerId"], [float(x) for x in loc])
        self._commit()
        return ok(w.to_json())

    async def driver_start(self, request: Request) -> Response:
        t = self.state.start_task(request.path_params["taskId"])
        self._commit()
        return ok(t.to_json())

    def routes(self) -> list[BaseRoute]:
        b, c = BASE_PATH, CONTROL_PATH
        return [
            Route(f"{b}/tasks", self.create_task, methods=["POST"]),
            Route(f"{b}/tasks/batch", self.create_batch, methods=["POST"]),
            Route(f"{b}/tasks/batch-async", self.create_batch_async, methods=["POST"]),
            Route(f"{b}/tasks/batch/{{jobId}}", self.batch_status, methods=["GET"]),
            Route(f"{b}/tasks/all", self.list_all, methods=["GET"]),
            Route(f"{b}/tasks/shortId/{{shortId}}", self.get_short, methods=["GET"]),
            Route(f"{b}/tasks/{{taskId}}", self.get_task, methods=["GET"]),
            Route(f"{b}/tasks/{{taskId}}", self.update_task, methods=["PUT"]),
            Route(f"{b}/tasks/{{taskId}}", self.delete_task, methods=["DELETE"]),
            Route(f"{b}/tasks/{{taskId}}/complete", self.complete_task, methods=["POST"]),
            Route(f"{b}/auth/test", self.auth_test, methods=["GET"]),
            # Organisation, admins, workers, teams, hubs, containers (after the hot task
            # routes; /workers/location comes before /workers/{workerId} inside).
            *self.fleet.routes(),
            Route(f"{b}/workers", self.create_worker, methods=["POST"]),
            Route(f"{b}/teams", self.create_team, methods=["POST"]),
            Route(f"{b}/teams", self.list_teams, methods=["GET"]),
            Route(f"{b}/teams/{{teamId}}", self.get_team, methods=["GET"]),
            Route(f"{c}/workers/{{workerId}}/duty", self.driver_duty, methods=["POST"]),
            Route(f"{c}/workers/{{workerId}}/location", self.driver_move, methods=["POST"]),
            Route(f"{c}/tasks/{{taskId}}/start", self.driver_start, methods=["POST"]),
            # Task operations, recipients, destinations, route plans, custom fields.
            *TaskOpsApi(self.state, self.locks).routes(),
        ]
