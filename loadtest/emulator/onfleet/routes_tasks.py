"""HTTP routes of Onfleet's task operations, recipients, destinations, route plans and
custom fields (see :mod:`taskops`, :mod:`recipients`, :mod:`destinations`,
:mod:`routeplans`, :mod:`customfields`).  Every handler validates before it changes
anything, then commits; :class:`loadtest.emulator.onfleet.routes.OnfleetApi` mounts them.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from loadtest.emulator.http import empty, ok, raw_json, read_json
from loadtest.emulator.onfleet import destinations, taskops
from loadtest.emulator.onfleet.customfields import CustomFields
from loadtest.emulator.onfleet.locks import ContainerLocks
from loadtest.emulator.onfleet.routeplans import RoutePlans
from loadtest.emulator.onfleet.state import OnfleetState
from loadtest.providers.onfleet import BASE_PATH


class TaskOpsApi:
    """The route handlers, bound to one :class:`OnfleetState` and its container locks."""

    def __init__(self, state: OnfleetState, locks: ContainerLocks) -> None:
        self.state = state
        self.locks = locks
        self.plans = RoutePlans(state)
        self.fields = CustomFields(state.rt.store, state.rt.now_ms)

    def _commit(self) -> None:
        self.state.rt.commit()

    # -- tasks -------------------------------------------------------------------------
    async def clone(self, request: Request) -> Response:
        body = await read_json(request, allow_empty=True)
        async with self.locks.hold(self.state.org):
            t = taskops.clone_task(self.state, request.path_params["taskId"], body)
            self._commit()
        return raw_json(orjson.dumps(t.to_json()))

    async def auto_assign(self, request: Request) -> Response:
        body = await read_json(request)
        async with self.locks.hold(self.state.org):
            out = taskops.auto_assign_tasks(self.state, body)
            self._commit()
        return ok(out)

    async def match_tasks(self, request: Request) -> Response:
        tasks = taskops.match_tasks(self.state, await read_json(request))
        return raw_json(orjson.dumps([t.to_json() for t in tasks]))

    # -- recipients --------------------------------------------------------------------
    async def create_recipient(self, request: Request) -> Response:
        body = await read_json(request)
        r = self.state.recipients.create(body, self.state.rt.ids.onfleet(), self.state.rt.now_ms())
        self._commit()
        return ok(r)

    async def get_recipient(self, request: Request) -> Response:
        return ok(self.state.recipients.get(request.path_params["recipientId"]))

    async def recipient_by_name(self, request: Request) -> Response:
        return ok(self.state.recipients.find_name(request.path_params["name"]))

    async def recipient_by_phone(self, request: Request) -> Response:
        return ok(self.state.recipients.find_phone(request.path_params["phone"]))

    async def update_recipient(self, request: Request) -> Response:
        body = await read_json(request)
        r = self.state.recipients.update(
            request.path_params["recipientId"], body, self.state.rt.now_ms()
        )
        self._commit()
        return ok(r)

    async def match_recipients(self, request: Request) -> Response:
        return ok(self.state.recipients.match(await read_json(request)))

    # -- destinations ------------------------------------------------------------------
    async def create_destination(self, request: Request) -> Response:
        body = await read_json(request)
        d = destinations.create_destination(self.state, body, self.state.rt.now_ms())
        self._commit()
        return ok(d)

    async def get_destination(self, request: Request) -> Response:
        return ok(destinations.get_destination(self.state, request.path_params["destinationId"]))

    async def match_destinations(self, request: Request) -> Response:
        return ok(destinations.match_destinations(self.state, await read_json(request)))

    # -- route plans -------------------------------------------------------------------
    async def create_plan(self, request: Request) -> Response:
        body = await read_json(request)
        plan = self.plans.create(body)
        self._commit()
        return ok(self.plans.to_json(plan))

    async def list_plans(self, request: Request) -> Response:
        return ok(self.plans.list(dict(request.query_params)))

    async def get_plan(self, request: Request) -> Response:
        return ok(self.plans.to_json(self.plans.get(request.path_params["routePlanId"])))

    async def update_plan(self, request: Request) -> Response:
        body = await read_json(request)
        plan = self.plans.update(request.path_params["routePlanId"], body)
        self._commit()
        return ok(self.plans.to_json(plan))

    async def add_plan_tasks(self, request: Request) -> Response:
        body = await read_json(request)
        plan = self.plans.add_tasks(request.path_params["routePlanId"], body)
        self._commit()
        return ok(self.plans.to_json(plan))

    async def delete_plan(self, request: Request) -> Response:
        self.plans.delete(request.path_params["routePlanId"])
        self._commit()
        return empty()

    # -- custom fields -----------------------------------------------------------------
    async def create_field(self, request: Request) -> Response:
        field = self.fields.create(await read_json(request))
        self._commit()
        return ok(field)

    async def list_fields(self, request: Request) -> Response:
        return ok(self.fields.list(request.path_params["model"]))

    async def update_field(self, request: Request) -> Response:
        field = self.fields.update(await read_json(request))
        self._commit()
        return ok(field)

    async def delete_field(self, request: Request) -> Response:
        self.fields.delete(await read_json(request))
        self._commit()
        return empty()

    def routes(self) -> list[BaseRoute]:
        b = BASE_PATH
        routes: list[tuple[str, Any, str]] = [
            ("/tasks/autoAssign", self.auto_assign, "POST"),
            ("/tasks/metadata", self.match_tasks, "POST"),
            ("/tasks/{taskId}/clone", self.clone, "POST"),
            ("/recipients", self.create_recipient, "POST"),
            ("/recipients/metadata", self.match_recipients, "POST"),
            ("/recipients/name/{name}", self.recipient_by_name, "GET"),
            ("/recipients/phone/{phone}", self.recipient_by_phone, "GET"),
            ("/recipients/{recipientId}", self.get_recipient, "GET"),
            ("/recipients/{recipientId}", self.update_recipient, "PUT"),
            ("/destinations", self.create_destination, "POST"),
            ("/destinations/metadata", self.match_destinations, "POST"),
            ("/destinations/{destinationId}", self.get_destination, "GET"),
            ("/routePlans", self.create_plan, "POST"),
            ("/routePlans", self.list_plans, "GET"),
            ("/routePlans/{routePlanId}", self.get_plan, "GET"),
            ("/routePlans/{routePlanId}", self.update_plan, "PUT"),
            ("/routePlans/{routePlanId}", self.delete_plan, "DELETE"),
            ("/routePlans/{routePlanId}/tasks", self.add_plan_tasks, "PUT"),
            ("/customFields", self.create_field, "POST"),
            ("/customFields", self.update_field, "PUT"),
            ("/customFields", self.delete_field, "DELETE"),
            ("/customFields/{model}", self.list_fields, "GET"),
        ]
        return [Route(b + path, fn, methods=[m]) for path, fn, m in routes]
