"""The CSV form of a run's tables and its Frictionless ``datapackage.json``.

CSV has no types, so a plain ``pandas.read_csv`` turns ``+14155550100`` into a number and
a one-element id list into a float.  Beside the CSV files goes a Frictionless Tabular Data
Package (https://specs.frictionlessdata.io/tabular-data-package/) naming each resource's
path and each column's type, and :func:`read_csv_table` reads a file with it:

- ``string`` (phones, names, ids of jobs) stays text; phones carry an E.164 ``pattern``;
- categories are ``string`` with ``constraints.enum`` (the known values);
- id lists are ``array``: a JSON array such as ``[3,4]`` (``[]`` for none);
- ``*_at`` timestamps are ``datetime``, ISO 8601 UTC with milliseconds
  (``2025-11-23T08:00:00.000Z``);
- booleans are ``true``/``false``; text is quoted; a missing value is an empty field
  (so an empty text ``""`` and a missing one differ).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from sim.errors import UserError
from sim.table_schema import (
    ID_LIST_DTYPE,
    LAYOUT,
    TIMESTAMP_ARROW,
    Column,
    Kind,
    at_name,
    joined_ids,
)

DATAPACKAGE: Final = "datapackage.json"
E164_PATTERN: Final = r"\+[1-9][0-9]{1,14}"
DATETIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"

_TYPES: Final[dict[Kind, str]] = {
    Kind.INT: "integer",
    Kind.INT8: "integer",
    Kind.ID: "integer",
    Kind.BOOL: "boolean",
    Kind.FLOAT: "number",
    Kind.TIME: "number",
    Kind.TEXT: "string",
    Kind.PHONE: "string",
    Kind.CATEGORY: "string",
    Kind.ID_LIST: "array",
}


def _field(c: Column, frame: pd.DataFrame) -> dict[str, Any]:
    f: dict[str, Any] = {"name": c.name, "type": _TYPES[c.kind], "description": c.description}
    if c.kind is Kind.BOOL:
        f |= {"trueValues": ["true"], "falseValues": ["false"]}
    elif c.kind is Kind.TIME:
        f["description"] += " (seconds from the run's origin)"
    elif c.kind is Kind.PHONE:
        f["constraints"] = {"pattern": E164_PATTERN}
    elif c.kind is Kind.CATEGORY:
        cats = frame[c.name].cat.categories if c.name in frame else c.categories
        f["constraints"] = {"enum": [str(x) for x in cats]}
    elif c.kind is Kind.ID_LIST:
        f["description"] += " (JSON array of integers)"
    if c.kind in (Kind.INT, Kind.INT8, Kind.BOOL, Kind.ID_LIST):
        f.setdefault("constraints", {})["required"] = True
    return f


def _at_field(c: Column) -> dict[str, Any]:
    return {
        "name": at_name(c.name),
        "type": "datetime",
        "format": DATETIME_FORMAT,
        "description": f"{c.name} as a UTC timestamp",
    }


def resource(table: str, frame: pd.DataFrame) -> dict[str, Any]:
    """The data resource of ``table`` (its CSV path and schema) for ``frame``'s columns."""
    fields: list[dict[str, Any]] = []
    for c in LAYOUT[table]:
        if c.name not in frame:
            continue
        fields.append(_field(c, frame))
        if c.kind is Kind.TIME:
            fields.append(_at_field(c))
    return {
        "name": table,
        "path": f"{table}.csv",
        "profile": "tabular-data-resource",
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "dialect": {"delimiter": ",", "header": True, "lineTerminator": "\n"},
        "schema": {"fields": fields, "missingValues": [""]},
    }


def datapackage(resources: list[dict[str, Any]], meta: dict[str, Any]) -> bytes:
    """The ``datapackage.json`` bytes; ``meta`` is the run's identity (``fleetsim`` key)."""
    doc = {
        "profile": "tabular-data-package",
        "name": "fleetsim-run",
        "fleetsim": meta,
        "resources": resources,
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


def _csv_text(kind: Kind, column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """The CSV text of a column Arrow's writer would not render as declared, else None."""
    if kind is Kind.ID_LIST:
        items = pc.binary_join(pc.cast(column, pa.list_(pa.string())), ",")
        return pc.binary_join_element_wise("[", items, "]", "")
    if kind is Kind.CATEGORY:
        return pc.cast(column, pa.string())
    if pa.types.is_timestamp(column.type):  # %S carries the milliseconds
        return pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ")
    return None


def write_csv_table(table: str, frame: pd.DataFrame, path: Path) -> None:
    """Write an analyst-form ``frame`` as CSV in the encoding its resource declares, with
    Arrow's writer (shortest round-trip floats; text quoted, so "" and null differ)."""
    data = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    kinds = {c.name: c.kind for c in LAYOUT[table]}
    kinds |= {at_name(c.name): Kind.TIME for c in LAYOUT[table] if c.kind is Kind.TIME}
    for i, name in enumerate(data.column_names):
        text = _csv_text(kinds.get(name, Kind.TEXT), data[name])
        if text is not None:
            data = data.set_column(i, name, text)
    pacsv.write_csv(data, path, pacsv.WriteOptions(quoting_style="needed"))


def read_datapackage(path: Path) -> dict[str, dict[str, Any]]:
    """The resources of a ``datapackage.json``, by name."""
    try:
        doc = orjson.loads(path.read_bytes())
        return {str(r["name"]): r for r in doc["resources"]}
    except (orjson.JSONDecodeError, KeyError, TypeError) as e:
        raise UserError(f"{path}: not a readable data package ({e})") from None


_ARRAY_OF_INTS: Final = r"^\[(-?[0-9]+(,-?[0-9]+)*)?\]$"


def _arrow_type(field: dict[str, Any]) -> pa.DataType:
    kind = str(field.get("type", "string"))
    if kind == "string" and "enum" in field.get("constraints", {}):
        return pa.dictionary(pa.int32(), pa.string())
    return {
        "integer": pa.int64(),
        "number": pa.float64(),
        "boolean": pa.bool_(),
        "datetime": TIMESTAMP_ARROW,
    }.get(kind, pa.string())


def _id_arrays(column: pa.ChunkedArray, where: str) -> pa.ListArray:
    """JSON arrays of integers (``[3,4]``, ``[]``) as one list array."""
    text = column.combine_chunks().fill_null("[]")
    ok = pc.match_substring_regex(text, _ARRAY_OF_INTS).to_numpy(zero_copy_only=False)
    if not ok.all():
        bad = text[int(np.argmin(ok))].as_py()
        raise UserError(f"{where}: {bad!r} is not a JSON array of integers")
    return joined_ids(pc.utf8_slice_codeunits(text, 1, -1), sep=",")


def _list_dtype(t: pa.DataType) -> Any:
    return ID_LIST_DTYPE if t == ID_LIST_DTYPE.pyarrow_dtype else None


def read_csv_table(path: Path, res: dict[str, Any]) -> pd.DataFrame:
    """Read one CSV with its resource's schema: each column is parsed as the type its field
    declares (text stays text, phones too), arrays become lists; missing cells are null."""
    fields = res.get("schema", {}).get("fields", [])
    types = {str(f["name"]): _arrow_type(f) for f in fields}
    arrays = [str(f["name"]) for f in fields if f.get("type") == "array"]
    options = pacsv.ConvertOptions(
        column_types=types,
        null_values=[""],
        strings_can_be_null=True,
        true_values=["True", "true"],
        false_values=["False", "false"],
    )
    try:
        table = pacsv.read_csv(path, convert_options=options)
    except (pa.ArrowInvalid, OSError) as e:
        raise UserError(f"{path.name}: does not match datapackage.json ({e})") from None
    for name in arrays:
        if name in table.column_names:
            where = f"{path.name}: column {name}"
            i = table.column_names.index(name)
            table = table.set_column(i, name, _id_arrays(table[name], where))
    frame: pd.DataFrame = table.to_pandas(types_mapper=_list_dtype)
    return frame
