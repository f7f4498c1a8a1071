"""Onfleet custom fields as node-onfleet calls them: ``POST /customFields`` (create),
``GET /customFields/{model}`` (list), ``PUT /customFields`` (update) and
``DELETE /customFields`` (delete); every body is ``{model, field{...}}``.

Minimal but faithful [inf]: a field is ``{key, name, type, description, asArray,
visibility, editability, contexts, value, timeCreated, timeLastModified, model}`` (``model``,
the one it belongs to, is the emulator's: the OpenAPI link to ``GET /customFields/{model}``
reads it [inf]); ``key`` is unique
per model and, like ``type``, fixed once created.  Onfleet documents custom fields for the
``Task`` model; ``Worker`` is accepted too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from loadtest.emulator.dialect import ONFLEET
from loadtest.emulator.errors import ApiError
from loadtest.emulator.onfleet.validate import bad
from loadtest.emulator.store import Store
from loadtest.providers.onfleet import E_NOT_UNIQUE, E_UPDATE_MISSING, E_WRONG_TYPES

MODELS = ("Task", "Worker")
TYPES = (
    "single_line_text_field",
    "multi_line_text_field",
    "boolean",
    "number",
    "decimal",
    "integer",
    "date",
    "url",
    "email",
)
ROLES = ("admin", "api", "dispatcher", "worker")
MAX_FIELDS = 100  # per model [inf]
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_MUTABLE = frozenset(
    {"name", "description", "asArray", "visibility", "editability", "contexts", "value"}
)


def _model_field(body: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(body, dict):
        raise bad("the body must be a JSON object {model, field}", E_WRONG_TYPES)
    model = body.get("model")
    if model not in MODELS:
        raise bad(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    field = body.get("field")
    if not isinstance(field, dict):
        raise bad("field is required: an object with at least key", E_WRONG_TYPES)
    key = field.get("key")
    if not isinstance(key, str) or not _KEY.match(key):
        raise bad(f"field.key must be a letter then letters, digits or _, got {key!r}")
    return model, field


def _check_mutable(field: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "name" in field:
        if not isinstance(field["name"], str) or not field["name"].strip():
            raise bad("field.name must be a non-empty string")
        out["name"] = field["name"]
    if "description" in field:
        if field["description"] is not None and not isinstance(field["description"], str):
            raise bad("field.description must be a string", E_WRONG_TYPES)
        out["description"] = field["description"]
    if "asArray" in field:
        if not isinstance(field["asArray"], bool):
            raise bad("field.asArray must be a boolean", E_WRONG_TYPES)
        out["asArray"] = field["asArray"]
    for key in ("visibility", "editability"):
        if key in field:
            v = field[key]
            if not isinstance(v, list) or not all(x in ROLES for x in v):
                raise bad(f"field.{key} must be an array of {', '.join(ROLES)}")
            out[key] = v
    if "contexts" in field:
        if not isinstance(field["contexts"], list):
            raise bad("field.contexts must be an array", E_WRONG_TYPES)
        out["contexts"] = field["contexts"]
    if "value" in field:
        out["value"] = field["value"]
    return out


class CustomFields:
    """Every custom field, per model, in creation order."""

    def __init__(self, store: Store, now_ms: Callable[[], int]) -> None:
        self.store = store
        self._now_ms = now_ms  # the emulator's (time-scaled) clock
        self.fields: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in MODELS}
        for d in store.load("customfield"):
            model, key = d["model"], d["key"]
            if d.get("deleted"):
                self.fields[model].pop(key, None)
            else:
                self.fields[model][key] = d["field"]

    def _save(self, model: str, key: str, field: dict[str, Any] | None) -> None:
        if self.store.durable:
            rec = {"model": model, "key": key, "field": field, "deleted": field is None}
            self.store.put("customfield", f"{model}:{key}", rec)

    def create(self, body: Any) -> dict[str, Any]:
        model, field = _model_field(body)
        key = field["key"]
        if key in self.fields[model]:
            raise ApiError(
                400,
                "A custom field with this key already exists.",
                error=E_NOT_UNIQUE,
                cause=f"{model}.{key}",
            )
        if len(self.fields[model]) >= MAX_FIELDS:
            raise bad(f"the {model} model holds {MAX_FIELDS} custom fields, its maximum")
        if not isinstance(field.get("name"), str):
            raise bad("field.name is required (a string)")
        if field.get("type") not in TYPES:
            raise bad(f"field.type must be one of {', '.join(TYPES)}, got {field.get('type')!r}")
        extra = sorted(set(field) - _MUTABLE - {"key", "type"})
        if extra:
            raise bad(f"field.{extra[0]} is not a custom field property")
        now = self._now_ms()
        rec: dict[str, Any] = {
            "key": key,
            "name": "",
            "type": field["type"],
            "description": None,
            "asArray": False,
            "visibility": ["admin", "api", "worker"],
            "editability": ["admin", "api"],
            "contexts": [],
            "value": None,
            "timeCreated": now,
            "timeLastModified": now,
            "model": model,
        }
        rec.update(_check_mutable(field))
        self.fields[model][key] = rec
        self._save(model, key, rec)
        return rec

    def list(self, model: str) -> dict[str, Any]:
        if model not in MODELS:
            raise ONFLEET.not_found(f"custom fields of model {model!r}")
        return {"fields": list(self.fields[model].values())}

    def _known(self, model: str, key: str) -> dict[str, Any]:
        rec = self.fields[model].get(key)
        if rec is None:
            raise ApiError(
                404,
                "The resource to update does not exist.",
                error=E_UPDATE_MISSING,
                cause=f"custom field {model}.{key}",
            )
        return rec

    def update(self, body: Any) -> dict[str, Any]:
        model, field = _model_field(body)
        rec = self._known(model, field["key"])
        if "type" in field and field["type"] != rec["type"]:
            raise bad("field.type cannot change; delete the field and create it again")
        extra = sorted(set(field) - _MUTABLE - {"key", "type"})
        if extra:
            raise bad(f"field.{extra[0]} is not a custom field property")
        changes = _check_mutable(field)
        rec.update(changes)
        rec["timeLastModified"] = self._now_ms()
        self._save(model, rec["key"], rec)
        return rec

    def delete(self, body: Any) -> None:
        model, field = _model_field(body)
        self._known(model, field["key"])
        del self.fields[model][field["key"]]
        self._save(model, field["key"], None)
