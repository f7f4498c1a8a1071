"""Reading a decoded JSON document that another tool or version wrote, without trusting it.

Concept held here: :class:`LenientReader`, which reads values by the type a record expects,
falls back to a default for anything unusable and notes each such value in ``problems``
(a missing key is normal in an older file and is not a problem).  It never raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


class LenientReader:
    """Reads parts of a decoded document, falling back to defaults and noting each
    value that was there but unusable (a missing key is normal for an older file)."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def _bad(self, where: str, expected: str, value: object) -> None:
        self.problems.append(f"{where}: expected {expected}, got {value!r}"[:200])

    def obj(self, value: object, where: str) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.problems.append(f"{where}: expected an object")
        return None

    def list_(self, doc: Mapping[str, Any], key: str) -> list[tuple[int, Any]]:
        value = doc.get(key, [])
        if isinstance(value, list):
            return list(enumerate(value))
        self.problems.append(f"{key}: expected a list")
        return []

    def objects(self, doc: Mapping[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
        out = []
        for i, item in self.list_(doc, key):
            d = self.obj(item, f"{key}[{i}]")
            if d is not None:
                out.append((i, d))
        return out

    def str_(self, value: object, where: str) -> str:
        if isinstance(value, str):
            return value
        self._bad(where, "a string", value)
        return str(value)

    def float_(self, d: Mapping[str, Any], key: str, where: str, default: float = 0.0) -> float:
        v = d.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
        if v is not None:
            self._bad(where, "a number", v)
        return default

    def float_or_none(self, d: Mapping[str, Any], key: str, where: str) -> float | None:
        v = d.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
        if v is not None:
            self._bad(where, "a number or null", v)
        return None

    def int_(self, d: Mapping[str, Any], key: str, where: str, default: int = 0) -> int:
        v = d.get(key)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, float) and v.is_integer():  # 3.0 is a count; NaN and inf are not
            return int(v)
        if v is not None:
            self._bad(where, "a whole number", v)
        return default

    def records(
        self,
        doc: Mapping[str, Any],
        key: str,
        cls: type[R],
        nested: Mapping[str, Callable[[LenientReader, object, str], Any]] | None = None,
    ) -> tuple[R, ...]:
        """A list of rows of ``cls``, a dataclass whose first field is ``name: str`` and
        whose other fields are ``int`` or ``float``, each read by its field's type, or
        named in ``nested`` with the function that reads that field's value."""
        # Field types are strings under ``from __future__ import annotations``.
        readers: dict[object, Callable[[Mapping[str, Any], str, str], Any]] = {
            "int": self.int_,
            "float": self.float_,
            int: self.int_,
            float: self.float_,
        }
        nested = nested or {}
        make = cast(Callable[..., R], cls)  # a dataclass takes its fields in order
        out = []
        for i, d in self.objects(doc, key):
            name = self.str_(d.get("name", "?"), f"{key}[{i}].name")
            values = (
                nested[f.name](self, d.get(f.name), f"{key}[{i}].{f.name}")
                if f.name in nested
                else readers[f.type](d, f.name, f"{key}[{i}].{f.name}")
                for f in fields(cls)[1:]
            )
            out.append(make(name, *values))
        return tuple(out)
