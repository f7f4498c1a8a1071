"""The Onfleet organisation and its administrators, served from the configuration.

``GET /organization`` answers the emulated organisation built from
:class:`~loadtest.emulator.config.OrganizationConfig`; ``GET /organizations/{id}`` answers
it again for its own id (Onfleet uses that route for delegatees, which the emulator has
none of [inf]).  The account owner is the admin every API call acts as (the state's
``creator``); further admins are created, updated and deleted through ``/admins`` and
kept with ``--db`` (the store keeps records, so a delete is a tombstone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loadtest.emulator.dialect import ONFLEET
from loadtest.emulator.errors import ApiError
from loadtest.emulator.onfleet.metadata import matches, parse_metadata, parse_query
from loadtest.emulator.onfleet.validate import bad, normalise_phone
from loadtest.providers.onfleet import E_NOT_UNIQUE, E_NOTHING_TO_UPDATE, E_WRONG_TYPES

if TYPE_CHECKING:
    from loadtest.emulator.onfleet.state import OnfleetState

_ADMIN_TYPES = ("super", "standard")
_ADMIN_FIELDS = frozenset({"name", "email", "phone", "metadata", "isReadOnly", "type"})
_ADMIN_UPDATABLE = frozenset({"name", "email", "phone", "metadata", "isReadOnly"})


def _email(raw: Any) -> str:
    if not isinstance(raw, str) or "@" not in raw.strip()[1:-1] or " " in raw.strip():
        raise bad(f"email must be an e-mail address, got {raw!r}")
    return raw.strip().lower()


class Org:
    """The organisation JSON and the admins (see the module docstring)."""

    def __init__(self, state: OnfleetState) -> None:
        self.state = state
        self.admins: dict[str, dict[str, Any]] = {}
        cfg = state.rt.config.organization
        owner: dict[str, Any] = {
            "id": state.creator,
            "timeCreated": 0,
            "timeLastModified": 0,
            "organization": state.org,
            "email": cfg.owner_email.lower(),
            "type": "super",
            "name": cfg.owner_name,
            "isActive": True,
            "isReadOnly": False,
            "isAccountOwner": True,
            "phone": cfg.owner_phone,
            "metadata": [],
            "teams": [],
        }
        self.admins[state.creator] = owner
        for d in state.rt.store.load("onfleet-admin"):
            if d.get("deleted"):
                self.admins.pop(d["id"], None)
            else:
                self.admins[d["id"]] = d

    # -- the organisation ----------------------------------------------------------------
    def organization_json(self) -> dict[str, Any]:
        cfg = self.state.rt.config.organization
        return {
            "id": self.state.org,
            "timeCreated": 0,
            "timeLastModified": 0,
            "name": cfg.name,
            "email": cfg.email,
            "image": None,
            "timezone": cfg.timezone,
            "country": cfg.country,
            "delegatees": [],
        }

    def delegatee_json(self, org_id: str) -> dict[str, Any]:
        if org_id != self.state.org:
            raise ONFLEET.not_found(f"organization {org_id}")
        d = self.organization_json()
        return {k: d[k] for k in ("id", "name", "email", "timezone", "country")}

    # -- admins ----------------------------------------------------------------------
    def _save(self, a: dict[str, Any]) -> None:
        if self.state.rt.store.durable:
            self.state.rt.store.put("onfleet-admin", a["id"], a)

    def _unique_email(self, email: str, me: str | None) -> None:
        for a in self.admins.values():
            if a["email"] == email and a["id"] != me:
                raise ApiError(
                    400,
                    "An administrator with this email already exists.",
                    error=E_NOT_UNIQUE,
                    cause=email,
                )

    def get_admin(self, aid: str) -> dict[str, Any]:
        a = self.admins.get(aid)
        if a is None:
            raise ONFLEET.not_found(f"admin {aid}")
        return a

    def list_admins(self) -> list[dict[str, Any]]:
        return list(self.admins.values())

    def create_admin(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad("body must be a JSON object", E_WRONG_TYPES)
        unknown = set(body) - _ADMIN_FIELDS
        if unknown:
            raise bad(f"unknown field {sorted(unknown)[0]!r}; allowed: {sorted(_ADMIN_FIELDS)}")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad("name is required")
        email = _email(body.get("email"))
        self._unique_email(email, None)
        kind = body.get("type", "standard")
        if kind not in _ADMIN_TYPES:
            raise bad("type must be super or standard")
        read_only = body.get("isReadOnly", False)
        if not isinstance(read_only, bool):
            raise bad("isReadOnly must be a boolean", E_WRONG_TYPES)
        phone = normalise_phone(body["phone"]) if body.get("phone") is not None else None
        metadata = parse_metadata(body.get("metadata", []))
        now = self.state.rt.now_ms()
        a = {
            "id": self.state.rt.ids.onfleet(),
            "timeCreated": now,
            "timeLastModified": now,
            "organization": self.state.org,
            "email": email,
            "type": kind,
            "name": name,
            "isActive": False,  # until the invitation is accepted
            "isReadOnly": read_only,
            "isAccountOwner": False,
            "phone": phone,
            "metadata": metadata,
            "teams": [],
        }
        self.admins[a["id"]] = a
        self._save(a)
        return a

    def update_admin(self, aid: str, body: Any) -> dict[str, Any]:
        a = self.get_admin(aid)
        if not isinstance(body, dict):
            raise bad("body must be a JSON object", E_WRONG_TYPES)
        unknown = set(body) - _ADMIN_UPDATABLE
        if unknown:
            raise bad(
                f"field {sorted(unknown)[0]!r} cannot be updated; allowed: "
                f"{sorted(_ADMIN_UPDATABLE)}"
            )
        if not body:
            raise bad("nothing to update", E_NOTHING_TO_UPDATE)
        changes: dict[str, Any] = {}
        if "name" in body:
            if not isinstance(body["name"], str) or not body["name"].strip():
                raise bad("name must be a non-empty string")
            changes["name"] = body["name"]
        if "email" in body:
            changes["email"] = _email(body["email"])
            self._unique_email(changes["email"], aid)
        if "phone" in body:
            changes["phone"] = None if body["phone"] is None else normalise_phone(body["phone"])
        if "metadata" in body:
            changes["metadata"] = parse_metadata(body["metadata"])
        if "isReadOnly" in body:
            if not isinstance(body["isReadOnly"], bool):
                raise bad("isReadOnly must be a boolean", E_WRONG_TYPES)
            if a["isAccountOwner"] and body["isReadOnly"]:
                raise bad("the account owner cannot be made read-only")
            changes["isReadOnly"] = body["isReadOnly"]
        a.update(changes)
        a["timeLastModified"] = self.state.rt.now_ms()
        self._save(a)
        return a

    def delete_admin(self, aid: str) -> None:
        a = self.get_admin(aid)
        if a["isAccountOwner"]:
            raise bad("the account owner cannot be deleted: every API call acts as it")
        del self.admins[aid]
        if self.state.rt.store.durable:
            self.state.rt.store.put("onfleet-admin", aid, {"id": aid, "deleted": True})

    def match_admins(self, body: Any) -> list[dict[str, Any]]:
        query = parse_query(body)
        return [a for a in self.admins.values() if matches(a["metadata"], query)]
