"""HTTP routes for the Onfleet organisation, admins, workers, teams, hubs and containers
(everything but tasks).  The handlers validate through the modules that hold each
concept (org, workers, schedule, teams, hubs; containers in fleet) and commit; a refused
request changes nothing (each concept checks before it writes, and the app's error
handler rolls the store back).

These routes are tried before :class:`~loadtest.emulator.onfleet.routes.OnfleetApi`'s
own, so ``/workers/location`` and ``/workers/metadata`` win over ``/workers/{workerId}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from loadtest.emulator.dialect import ONFLEET
from loadtest.emulator.http import empty, ok, query_int, read_json
from loadtest.emulator.onfleet.hubs import Hubs
from loadtest.emulator.onfleet.manifest import manifest
from loadtest.emulator.onfleet.model import Task
from loadtest.emulator.onfleet.org import Org
from loadtest.emulator.onfleet.schedule import Schedules
from loadtest.emulator.onfleet.teams import (
    delete_team,
    dispatch_options,
    dispatch_some,
    estimate,
    update_team,
)
from loadtest.emulator.onfleet.workers import (
    list_workers,
    match_workers,
    parse_filter,
    project,
    task_page,
    team_candidates,
    update_worker,
    worker_candidates,
    workers_near,
)
from loadtest.providers.onfleet import BASE_PATH

if TYPE_CHECKING:
    from loadtest.emulator.onfleet.routes import OnfleetApi

Handler = Callable[[Request], Awaitable[Response]]
#: Tasks a team dispatch assigns between two yields to the event loop (~20 ms of work).
DISPATCH_CHUNK = 250
_KINDS = ("workers", "teams", "organizations")
_CONTAINER_KINDS = {
    "workers": "WORKER",
    "teams": "TEAM",
    "organizations": "ORGANIZATION",
    "organization": "ORGANIZATION",
}


class FleetApi:
    """Handlers bound to the Onfleet API's state, locks and commit."""

    def __init__(self, api: OnfleetApi) -> None:
        self.api = api
        self.state = api.state
        self.org = Org(self.state)
        self.hubs = Hubs(self.state)
        self.schedules = Schedules(self.state)
        self.state.schedules = self.schedules
        history: dict[str, dict[int, Task]] = {}
        for t in self.state.order:  # tasks restored from --db
            if t.worker is not None and not t.deleted:
                history.setdefault(t.worker, {})[t.seq] = t
        self.state.worker_history = history

    def _commit(self) -> None:
        self.state.rt.commit()

    def _edges(self) -> None:
        """Apply (and commit) the shift edges the clock has passed before a read that
        shows duty (schedule.py)."""
        self.state.apply_schedules()

    # -- organisation and admins ---------------------------------------------------------
    async def get_organization(self, request: Request) -> Response:
        return ok(self.org.organization_json())

    async def get_delegatee(self, request: Request) -> Response:
        return ok(self.org.delegatee_json(request.path_params["orgId"]))

    async def list_admins(self, request: Request) -> Response:
        return ok(self.org.list_admins())

    async def create_admin(self, request: Request) -> Response:
        a = self.org.create_admin(await read_json(request))
        self._commit()
        return ok(a)

    async def update_admin(self, request: Request) -> Response:
        a = self.org.update_admin(request.path_params["adminId"], await read_json(request))
        self._commit()
        return ok(a)

    async def delete_admin(self, request: Request) -> Response:
        self.org.delete_admin(request.path_params["adminId"])
        self._commit()
        return empty()

    async def match_admins(self, request: Request) -> Response:
        return ok(self.org.match_admins(await read_json(request)))

    # -- workers ---------------------------------------------------------------------
    async def list_workers(self, request: Request) -> Response:
        fields = parse_filter(request.query_params)
        self._edges()
        ws = list_workers(self.state, request.query_params)
        return ok([project(w.to_json(), fields) for w in ws])

    async def get_worker(self, request: Request) -> Response:
        fields = parse_filter(request.query_params)
        self._edges()
        w = self.state.get_worker(request.path_params["workerId"])
        return ok(project(w.to_json(), fields))

    async def update_worker(self, request: Request) -> Response:
        body = await read_json(request)
        w = update_worker(self.state, request.path_params["workerId"], body)
        self._commit()
        return ok(w.to_json())

    async def delete_worker(self, request: Request) -> Response:
        wid = request.path_params["workerId"]
        self.state.apply_schedules()
        self.state.delete_worker(wid)
        self.schedules.forget(wid)
        self._commit()
        return empty()

    async def workers_near(self, request: Request) -> Response:
        self._edges()
        ws = workers_near(self.state, request.query_params)
        return ok({"workers": [w.to_json() for w in ws]})

    async def match_workers(self, request: Request) -> Response:
        ws = match_workers(self.state, await read_json(request))
        return ok([w.to_json() for w in ws])

    async def worker_tasks(self, request: Request) -> Response:
        wid = request.path_params["workerId"]
        self.state.get_worker(wid)
        out = task_page(
            self.state,
            request.query_params,
            query_int(request, "from"),
            query_int(request, "to"),
            worker_candidates(self.state, wid),
            lambda t: t.worker == wid,
        )
        return ok(out)

    async def get_schedule(self, request: Request) -> Response:
        return ok(self.schedules.get(request.path_params["workerId"]))

    async def set_schedule(self, request: Request) -> Response:
        out = self.schedules.set(request.path_params["workerId"], await read_json(request))
        self._commit()
        return ok(out)

    async def delivery_manifest(self, request: Request) -> Response:
        body = await read_json(request)
        return ok(manifest(self.state, self.hubs.hubs, body, request.query_params))

    # -- teams -----------------------------------------------------------------------
    async def update_team(self, request: Request) -> Response:
        body = await read_json(request)
        team = update_team(self.state, request.path_params["teamId"], body, self.hubs.hubs)
        if isinstance(body, dict) and "hub" in body:
            self.hubs.team_moved(team.id, team.hub)
        self._commit()
        return ok(team.to_json())

    async def delete_team(self, request: Request) -> Response:
        tid = request.path_params["teamId"]
        delete_team(self.state, tid)
        self.hubs.forget_team(tid)
        self._commit()
        return empty()

    async def team_tasks(self, request: Request) -> Response:
        tid = request.path_params["teamId"]
        out = task_page(
            self.state,
            request.query_params,
            query_int(request, "from"),
            query_int(request, "to"),
            team_candidates(self.state, tid),
            lambda t: t.container_type == "TEAM" and t.container_id == tid,
        )
        return ok(out)

    async def team_estimate(self, request: Request) -> Response:
        self._edges()
        return ok(estimate(self.state, request.path_params["teamId"], request.query_params))

    async def team_dispatch(self, request: Request) -> Response:
        """Chunks of :data:`DISPATCH_CHUNK` tasks, each committed, with the loop free in
        between (~70 µs a task: a 10,000-task team would hold it for ~1 s at once).
        Only the checks can refuse, and they run before the first chunk; a chunk re-reads
        its tasks, so one moved by another request meanwhile is skipped."""
        tid = request.path_params["teamId"]
        body = await read_json(request, allow_empty=True)
        if body is None:  # pyonfleet sends "null" when a call has no body
            body = {}
        async with self.api.locks.hold(tid):
            opts = dispatch_options(self.state, tid, body)
            dispatch_id = self.state.rt.ids.onfleet()  # drawn before the first commit
            queue = list(self.state.get_team(tid).tasks)
            assigned: list[str] = []
            for k in range(0, len(queue), DISPATCH_CHUNK):
                if k:
                    await asyncio.sleep(0)
                assigned += dispatch_some(self.state, tid, queue[k : k + DISPATCH_CHUNK], opts)
                self._commit()
        return ok({"dispatchId": dispatch_id, "assignedTasks": assigned})

    # -- containers ------------------------------------------------------------------
    @staticmethod
    def _kind(request: Request) -> str:
        # /api/v2/containers/<kind>/<id>: the kind is the path's fourth segment.
        return _CONTAINER_KINDS[request.url.path.split("/")[4]]

    async def get_container(self, request: Request) -> Response:
        kind = self._kind(request)
        plural = {"WORKER": "workers", "TEAM": "teams", "ORGANIZATION": "organizations"}[kind]
        return ok(self.state.container_json(plural, request.path_params["id"]))

    async def _put(self, ct: str, cid: str, request: Request) -> Response:
        body = await read_json(request)
        async with self.api.locks.hold(cid):
            out = self.state.set_container(ct, cid, body)
            self._commit()
        return ok(out)

    async def put_container(self, request: Request) -> Response:
        return await self._put(self._kind(request), request.path_params["id"], request)

    async def put_container_by_id(self, request: Request) -> Response:
        """``PUT /containers/{id}`` (pyonfleet's ``containers.update``): the id names a
        worker, a team or the organisation [inf]."""
        cid = request.path_params["id"]
        if cid in self.state.workers:
            return await self._put("WORKER", cid, request)
        if cid in self.state.teams:
            return await self._put("TEAM", cid, request)
        if cid == self.state.org:
            return await self._put("ORGANIZATION", cid, request)
        raise ONFLEET.not_found(f"container {cid}")

    # -- hubs ------------------------------------------------------------------------
    async def list_hubs(self, request: Request) -> Response:
        return ok(self.hubs.list())

    async def create_hub(self, request: Request) -> Response:
        h = self.hubs.create(await read_json(request))
        self._commit()
        return ok(h)

    async def update_hub(self, request: Request) -> Response:
        h = self.hubs.update(request.path_params["hubId"], await read_json(request))
        self._commit()
        return ok(h)

    def routes(self) -> list[BaseRoute]:
        b = BASE_PATH
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/organization", self.get_organization),
            ("GET", "/organizations/{orgId}", self.get_delegatee),
            ("GET", "/admins", self.list_admins),
            ("POST", "/admins", self.create_admin),
            ("POST", "/admins/metadata", self.match_admins),
            ("PUT", "/admins/{adminId}", self.update_admin),
            ("DELETE", "/admins/{adminId}", self.delete_admin),
            ("GET", "/workers", self.list_workers),
            ("GET", "/workers/location", self.workers_near),
            ("POST", "/workers/metadata", self.match_workers),
            ("GET", "/workers/{workerId}", self.get_worker),
            ("PUT", "/workers/{workerId}", self.update_worker),
            ("DELETE", "/workers/{workerId}", self.delete_worker),
            ("GET", "/workers/{workerId}/tasks", self.worker_tasks),
            ("GET", "/workers/{workerId}/schedule", self.get_schedule),
            ("POST", "/workers/{workerId}/schedule", self.set_schedule),
            ("POST", "/integrations/marketplace", self.delivery_manifest),
            ("PUT", "/teams/{teamId}", self.update_team),
            ("DELETE", "/teams/{teamId}", self.delete_team),
            ("GET", "/teams/{teamId}/tasks", self.team_tasks),
            ("GET", "/teams/{teamId}/estimate", self.team_estimate),
            ("POST", "/teams/{teamId}/dispatch", self.team_dispatch),
            # One path per container kind (not /containers/{entityType}/{id}), so the
            # OpenAPI document names each; pyonfleet's organization.insertTask uses the
            # singular /containers/organization/{id}.
            *(("GET", f"/containers/{kind}/{{id}}", self.get_container) for kind in _KINDS),
            *(("PUT", f"/containers/{kind}/{{id}}", self.put_container) for kind in _KINDS),
            ("PUT", "/containers/organization/{id}", self.put_container),
            ("PUT", "/containers/{id}", self.put_container_by_id),
            ("GET", "/hubs", self.list_hubs),
            ("POST", "/hubs", self.create_hub),
            ("PUT", "/hubs/{hubId}", self.update_hub),
        ]
        return [Route(f"{b}{path}", h, methods=[m]) for m, path, h in table]
