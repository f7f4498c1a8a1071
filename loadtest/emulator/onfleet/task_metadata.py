"""Onfleet metadata: validating metadata entries and matching them (``POST /:entity/metadata``).

An entity's ``metadata`` is a list of ``{name, type, value, visibility?}`` entries.  A query
is a list of the same entries; an entity matches when, for every query entry, it holds an
entry with the same ``name`` and ``type`` whose ``value`` equals the query's [inf: exact
equality, with an ``object`` query matching when its keys are a subset of the stored
object's and their values are equal; Onfleet documents the route but not the rule].

Self-contained on purpose (records in, records out): tasks, recipients and destinations use
it here, and workers may use it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from loadtest.emulator.errors import ApiError
from loadtest.emulator.onfleet.metadata import matches as shared_matches
from loadtest.providers.onfleet import E_INVALID_VALUES, E_WRONG_TYPES, MSG_INVALID_VALUES

T = TypeVar("T")

#: The metadata types Onfleet documents, and the JSON value each one holds.
TYPES: dict[str, Callable[[Any], bool]] = {
    "boolean": lambda v: isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}
#: Most entries one query may carry [inf]: a query is a filter, not a payload.
MAX_QUERY_ENTRIES = 50


def _bad(cause: str, error: int = E_INVALID_VALUES) -> ApiError:
    return ApiError(400, MSG_INVALID_VALUES, error=error, cause=cause)


def parse_entries(raw: Any, where: str = "metadata") -> list[dict[str, Any]]:
    """Check a metadata list (or a query); raise a 400 naming the first bad entry."""
    if not isinstance(raw, list):
        raise _bad(f"{where} must be an array of {{name, type, value}} entries", E_WRONG_TYPES)
    names: set[str] = set()
    for i, e in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(e, dict):
            raise _bad(f"{at} must be an object {{name, type, value}}", E_WRONG_TYPES)
        name, kind = e.get("name"), e.get("type")
        if not isinstance(name, str) or not name:
            raise _bad(f"{at}.name is required (a non-empty string)")
        if not isinstance(kind, str) or kind not in TYPES:
            raise _bad(f"{at}.type must be one of {', '.join(TYPES)}, got {kind!r}")
        if "value" not in e:
            raise _bad(f"{at}.value is required")
        if not TYPES[kind](e["value"]):
            raise _bad(f"{at}.value does not hold a {kind}: {e['value']!r}", E_WRONG_TYPES)
        if name in names:
            raise _bad(f"{at}.name {name!r} is given twice")
        names.add(name)
    return raw


def parse_query(raw: Any) -> list[dict[str, Any]]:
    """The body of ``POST /:entity/metadata``: a non-empty list of entries."""
    entries = parse_entries(raw, "the body")
    if not entries:
        raise _bad("the body is an empty array; give at least one {name, type, value} entry")
    if len(entries) > MAX_QUERY_ENTRIES:
        raise _bad(f"{len(entries)} entries in one query; at most {MAX_QUERY_ENTRIES}")
    return entries


def matches(stored: list[Any], query: list[dict[str, Any]]) -> bool:
    """True when ``stored`` holds an entry matching every entry of ``query``: the one rule
    of :func:`loadtest.emulator.onfleet.metadata.matches`."""
    return bool(stored) and shared_matches(stored, query)


def select(
    records: Iterable[T], metadata_of: Callable[[T], list[Any]], query: list[dict[str, Any]]
) -> list[T]:
    """The records whose metadata matches ``query``, in the order given."""
    return [r for r in records if matches(metadata_of(r), query)]
