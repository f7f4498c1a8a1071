"""Onfleet hubs: ``GET``/``POST /hubs`` and ``PUT /hubs/{id}``.

A hub is ``{id, name, location [lng, lat], address, teams}``.  Its address goes through
the same offline geocoder as a task's destination (``address.unparsed`` or structured
fields); a ``location`` given with it skips geocoding.  ``teams`` names the teams the
hub serves, and each of those teams' ``hub`` is set to it (a team has one hub) [inf].
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loadtest.emulator.dialect import ONFLEET
from loadtest.emulator.errors import ApiError
from loadtest.emulator.geocode import valid_location
from loadtest.emulator.onfleet.validate import bad
from loadtest.providers.onfleet import E_NOTHING_TO_UPDATE, E_WRONG_TYPES

if TYPE_CHECKING:
    from loadtest.emulator.onfleet.state import OnfleetState

_FIELDS = frozenset({"name", "address", "location", "teams"})


class Hubs:
    """The organisation's hubs, kept with ``--db``."""

    def __init__(self, state: OnfleetState) -> None:
        self.state = state
        self.hubs: dict[str, dict[str, Any]] = {
            d["id"]: d for d in state.rt.store.load("onfleet-hub")
        }

    def _save(self, h: dict[str, Any]) -> None:
        if self.state.rt.store.durable:
            self.state.rt.store.put("onfleet-hub", h["id"], h)

    def _place(self, body: dict[str, Any]) -> tuple[dict[str, Any], list[float]]:
        """(address JSON, [lng, lat]) from ``address`` and the optional ``location``."""
        addr = body.get("address")
        if not isinstance(addr, dict):
            raise bad("address (an object) is required", E_WRONG_TYPES)
        for k, v in addr.items():
            if v is not None and not isinstance(v, str):
                raise bad(f"address.{k} must be a string", E_WRONG_TYPES)
        if not addr.get("unparsed") and not (addr.get("street") and addr.get("city")):
            raise bad("address needs unparsed, or street and city")
        prep = self.state.prepare_address(addr)
        if isinstance(prep, ApiError):
            raise prep
        structured, _clean, text = prep
        if body.get("location") is not None:
            point = valid_location(body["location"])
            if point is None:
                raise bad(f"location must be [longitude, latitude], got {body['location']!r}")
            lat, lon = point
        else:
            lats, lons = self.state.rt.geocoder.locate([text])
            lat, lon = float(lats[0]), float(lons[0])
        return structured, [lon, lat]

    def _teams(self, body: dict[str, Any]) -> list[str]:
        teams = body.get("teams", [])
        if not isinstance(teams, list) or not all(isinstance(x, str) for x in teams):
            raise bad("teams must be an array of team ids", E_WRONG_TYPES)
        for tid in teams:
            if tid not in self.state.teams:
                raise bad(f"team {tid} does not exist")
        return list(dict.fromkeys(teams))

    def _link(self, hub_id: str, old: list[str], new: list[str]) -> None:
        st = self.state
        for tid in old:
            team = st.teams.get(tid)
            if team is not None and tid not in new and team.hub == hub_id:
                team.hub = None
                st.save_team(team)
        for tid in new:
            team = st.teams[tid]
            prev = team.hub
            if prev is not None and prev != hub_id and prev in self.hubs:
                other = self.hubs[prev]
                other["teams"] = [x for x in other["teams"] if x != tid]
                self._save(other)
            team.hub = hub_id
            st.save_team(team)

    def _check(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad("body must be a JSON object", E_WRONG_TYPES)
        unknown = set(body) - _FIELDS
        if unknown:
            raise bad(f"unknown field {sorted(unknown)[0]!r}; allowed: {sorted(_FIELDS)}")
        if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()):
            raise bad("name must be a non-empty string")
        return body

    def create(self, body: Any) -> dict[str, Any]:
        body = self._check(body)
        if "name" not in body:
            raise bad("name is required")
        address, location = self._place(body)
        teams = self._teams(body)
        h = {
            "id": self.state.rt.ids.onfleet(),
            "name": body["name"],
            "location": location,
            "address": address,
            "teams": teams,
        }
        self.hubs[h["id"]] = h
        self._link(h["id"], [], teams)
        self._save(h)
        return h

    def update(self, hub_id: str, body: Any) -> dict[str, Any]:
        h = self.hubs.get(hub_id)
        if h is None:
            raise ONFLEET.not_found(f"hub {hub_id}")
        body = self._check(body)
        if not body:
            raise bad("nothing to update", E_NOTHING_TO_UPDATE)
        if "location" in body and "address" not in body:
            raise bad("location is given with an address")
        changes: dict[str, Any] = {}
        if "address" in body:
            changes["address"], changes["location"] = self._place(body)
        if "teams" in body:
            changes["teams"] = self._teams(body)
            self._link(hub_id, h["teams"], changes["teams"])
        if "name" in body:
            changes["name"] = body["name"]
        h.update(changes)
        self._save(h)
        return h

    def forget_team(self, tid: str) -> None:
        """A deleted team leaves the hubs that served it."""
        for h in self.hubs.values():
            if tid in h["teams"]:
                h["teams"] = [x for x in h["teams"] if x != tid]
                self._save(h)

    def team_moved(self, tid: str, hub_id: str | None) -> None:
        """A team's ``hub`` was set by ``PUT /teams/{id}``: the hubs' lists follow."""
        self.forget_team(tid)
        if hub_id is not None:
            h = self.hubs[hub_id]
            h["teams"] = [*h["teams"], tid]
            self._save(h)

    def list(self) -> list[dict[str, Any]]:
        return list(self.hubs.values())
