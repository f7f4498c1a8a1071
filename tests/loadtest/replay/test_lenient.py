"""The lenient reader: defaults for what is unusable, a note for each, never an exception."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from loadtest.replay.lenient import LenientReader


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    n: int = 0
    x: float = 0.0


@pytest.mark.parametrize(
    "value, expected, noted",
    [
        (3, 3, False),
        (3.0, 3, False),
        (None, 7, False),  # missing: the default, silently
        (1.5, 7, True),
        (True, 7, True),
        (math.nan, 7, True),
        (math.inf, 7, True),
        ("3", 7, True),
    ],
)
def test_whole_numbers(value: object, expected: int, noted: bool) -> None:
    r = LenientReader()
    assert r.int_({"k": value}, "k", "where.k", default=7) == expected
    assert bool(r.problems) is noted
    assert all(p.startswith("where.k: expected a whole number") for p in r.problems)


def test_rows_read_each_field_by_its_type_and_skip_non_objects() -> None:
    r = LenientReader()
    doc = {"rows": [{"name": "a", "n": 2, "x": 1}, {"n": "two", "x": False}, [], 4]}
    assert r.records(doc, "rows", Row) == (Row("a", 2, 1.0), Row("?"))
    assert sorted(r.problems) == [
        "rows[1].n: expected a whole number, got 'two'",
        "rows[1].x: expected a number, got False",
        "rows[2]: expected an object",
        "rows[3]: expected an object",
    ]
    assert r.records({"rows": {"a": 1}}, "rows", Row) == ()
    assert r.problems[-1] == "rows: expected a list"


def test_long_values_are_cut_in_the_note() -> None:
    r = LenientReader()
    r.str_("x" * 1000, "s")
    r.str_(["x" * 1000], "s")
    assert len(r.problems) == 1 and len(r.problems[0]) == 200
