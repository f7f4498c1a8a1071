"""Onfleet metadata entries: their validation and the ``POST /{entity}/metadata`` match.

An entry is ``{name, type, value}`` (plus ``subtype`` for arrays and an optional
``visibility``).  ``type`` is one of boolean, number, string, object or array, and the
value must be of that JSON type.  A metadata query is an array of entries; an entity
matches when, for every queried entry, its own metadata holds an entry with the same
name, type and an equal value (Onfleet's "querying by metadata"; equality of objects and
arrays is JSON equality [inf]).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from loadtest.emulator.onfleet.validate import bad
from loadtest.providers.onfleet import E_WRONG_TYPES

_TYPES: dict[str, tuple[type, ...]] = {
    "boolean": (bool,),
    "number": (int, float),
    "string": (str,),
    "object": (dict,),
    "array": (list,),
}
_VISIBILITY = frozenset({"api", "dashboard", "worker"})


def _entry(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise bad(f"{where} must be an object {{name, type, value}}", E_WRONG_TYPES)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise bad(f"{where}.name (a non-empty string) is required")
    kind = raw.get("type")
    if kind not in _TYPES:
        raise bad(f"{where}.type must be one of {', '.join(_TYPES)}, got {kind!r}")
    if "value" not in raw:
        raise bad(f"{where}.value is required")
    value = raw["value"]
    ok = isinstance(value, _TYPES[kind])
    if kind == "number" and isinstance(value, bool):
        ok = False
    if not ok:
        raise bad(f"{where}.value must be a {kind}, got {value!r}", E_WRONG_TYPES)
    out: dict[str, Any] = {"name": name, "type": kind, "value": value}
    if "subtype" in raw:
        sub = raw["subtype"]
        if kind != "array" or sub not in ("boolean", "number", "string", "object"):
            raise bad(f"{where}.subtype is only for arrays: boolean, number, string or object")
        out["subtype"] = sub
    if "visibility" in raw:
        vis = raw["visibility"]
        if not isinstance(vis, list) or not all(v in _VISIBILITY for v in vis):
            raise bad(f"{where}.visibility must be an array of api, dashboard, worker")
        out["visibility"] = vis
    return out


def parse_metadata(raw: Any, field: str = "metadata") -> list[dict[str, Any]]:
    """A stored metadata array: every entry checked, names unique."""
    if not isinstance(raw, list):
        raise bad(f"{field} must be an array of {{name, type, value}}", E_WRONG_TYPES)
    out = [_entry(e, f"{field}[{i}]") for i, e in enumerate(raw)]
    names = [e["name"] for e in out]
    if len(set(names)) != len(names):
        raise bad(f"{field} names must be unique")
    return out


def parse_query(raw: Any) -> list[dict[str, Any]]:
    """The body of ``POST /{entity}/metadata``: a non-empty array of entries."""
    if not isinstance(raw, list) or not raw:
        raise bad("the body must be a non-empty array of {name, type, value}", E_WRONG_TYPES)
    return [_entry(e, f"[{i}]") for i, e in enumerate(raw)]


def _same(a: Any, b: Any) -> bool:
    # JSON equality: true != 1 although Python says so.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return (
        bool(type(a) is type(b) or (isinstance(a, int | float) and isinstance(b, int | float)))
        and a == b
    )


def value_matches(kind: str, want: Any, have: Any) -> bool:
    """A queried value against a stored one: JSON equality (``true`` is not ``1``), and an
    ``object`` query matches when its keys are a subset of the stored object's with
    JSON-equal values [inf]."""
    if kind == "object" and isinstance(want, dict) and isinstance(have, dict):
        return all(k in have and _same(have[k], v) for k, v in want.items())
    return _same(have, want)


def matches(have: Iterable[dict[str, Any]], query: list[dict[str, Any]]) -> bool:
    """True when every queried entry is in ``have`` (same name and type, and a value that
    :func:`value_matches`).  Workers, admins, tasks, recipients and destinations all match
    by this one rule."""
    by_name = {e.get("name"): e for e in have if isinstance(e, dict)}
    for q in query:
        e = by_name.get(q["name"])
        if e is None or e.get("type") != q["type"]:
            return False
        if not value_matches(q["type"], q["value"], e.get("value")):
            return False
    return True
