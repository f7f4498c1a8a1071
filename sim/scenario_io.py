"""Reading and writing scenario files: the edge where raw TOML becomes a :class:`Scenario`.

Concepts held here: reading a scenario file, ``--set`` overrides (the one value parser,
:func:`parse_set_value`, behind ``simulate --set`` and the sweep), validation failures
turned into one message that names the field path, the bad value and what is allowed,
and the effective scenario written back as TOML.  The schema itself is
:mod:`sim.scenario`.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from sim.errors import ScenarioError
from sim.scenario import Scenario


def _fmt_value(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    cur: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue  # an item of a list of tables: the list's model already stands for it
        field = cur.model_fields.get(part)
        if field is None:
            return []
        ann = field.annotation
        cur = next(
            (
                a
                for a in getattr(ann, "__args__", (ann,))
                if isinstance(a, type) and issubclass(a, BaseModel)
            ),
            None,
        )
        if cur is None:
            return []
    return sorted(k for k in cur.model_fields if k != "base_dir")


def _did_you_mean(key: Any, allowed: list[str]) -> str:
    """``"did you mean 'workers'? "`` for the allowed key closest to a misspelt one."""
    close = difflib.get_close_matches(str(key), allowed, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def _source_of(
    loc: tuple[Any, ...], source: str, overrides: dict[tuple[str, ...], str], unknown: bool
) -> str:
    """Where the fix goes: ``--set 'ITEM'`` when an override set this field (or the table
    holding it, or created the ``unknown`` key); ``SOURCE with --set 'ITEM'`` for a rule
    across a table an override changed part of; else ``source``."""
    at = tuple(str(p) for p in loc)
    for path, item in reversed(overrides.items()):
        if at[: len(path)] == path or (unknown and path[: len(at)] == at):
            return f"--set {item!r}"
    inside = [item for path, item in overrides.items() if path[: len(at)] == at]
    if inside:
        return f"{source} with " + ", ".join(f"--set {item!r}" for item in inside)
    return source


def format_validation_error(
    source: str, err: ValidationError, overrides: dict[tuple[str, ...], str] | None = None
) -> str:
    """One message per problem: ``source: path: got VALUE; what is allowed``.

    ``overrides`` maps each ``--set`` path (as a tuple) to its item; a problem under one
    of them names the override instead of ``source``.
    """
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        path = ".".join(str(p) for p in loc) or "(top level)"
        unknown = e["type"] == "extra_forbidden"
        where = _source_of(loc, source, overrides or {}, unknown)
        if unknown:
            allowed = _allowed_keys(Scenario, loc)
            hint = (
                f"; {_did_you_mean(loc[-1], allowed)}allowed keys: {', '.join(allowed)}"
                if allowed
                else ""
            )
            lines.append(f"{where}: {path}: unknown key{hint}")
            continue
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            lines.append(f"{where}: {path}: required field is missing")
        else:
            lines.append(f"{where}: {path}: got {_fmt_value(e.get('input'))}; {msg}")
    return "\n".join(lines)


def parse_set_value(text: str) -> Any:
    """A ``--set`` value as TOML reads it (``60`` -> int, ``0.5`` -> float, ``true`` -> bool,
    ``[1, 2]`` -> list); anything TOML rejects, such as a bare word like ``load``, stays a
    string.  The one parser behind ``simulate --set`` and the sweep's ``--set`` values."""
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word, e.g. policy=load


def set_field(raw: dict[str, Any], path: str, value: Any, item: str | None = None) -> None:
    """Set the dotted ``path`` of a raw scenario mapping to ``value`` (tables are created);
    errors name the ``--set`` item (``item``, default ``path=value``)."""
    parts = path.strip().split(".")
    node = raw
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ScenarioError(f"--set {item or f'{path}={value}'!r}: {part} is not a table")
        node = nxt
    node[parts[-1]] = value


def override_paths(overrides: list[str]) -> dict[tuple[str, ...], str]:
    """Each well-formed ``--set`` item by the field path it sets (the last item wins)."""
    paths: dict[tuple[str, ...], str] = {}
    for item in overrides:
        key, sep, _ = item.partition("=")
        if sep and key.strip():
            path = tuple(key.strip().split("."))
            paths.pop(path, None)  # re-insert so the order stays the order of application
            paths[path] = item
    return paths


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as TOML, else strings)."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ScenarioError(f"--set {item!r}: expected section.key=value")
        if key.strip().split(".")[0] == "base_dir":
            raise ScenarioError(f"--set {item!r}: base_dir: unknown key")
        set_field(raw, key, parse_set_value(value), item)
    return raw


def parse_scenario(
    raw: dict[str, Any],
    source: str = "scenario",
    base_dir: Path | None = None,
    overrides: list[str] | None = None,
) -> Scenario:
    """Validate a raw mapping into a :class:`Scenario`, or raise :class:`ScenarioError`.

    ``overrides`` are the ``--set`` items already applied to ``raw``: problems in the
    fields they set name them rather than ``source``.
    """
    data = dict(raw)
    data["base_dir"] = str(base_dir or Path("."))
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        paths = override_paths(list(overrides or []))
        raise ScenarioError(format_validation_error(source, exc, paths)) from None


def read_scenario_file(path: Path | str) -> dict[str, Any]:
    """The raw mapping of a scenario TOML file, before overrides and validation."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    if "base_dir" in raw:
        raise ScenarioError(f"{path}: base_dir: unknown key")
    return raw


def load_scenario(path: Path | str, overrides: list[str] | None = None) -> Scenario:
    """Read, override and validate a scenario TOML file."""
    path = Path(path)
    items = list(overrides or [])
    raw = apply_overrides(read_scenario_file(path), items)
    return parse_scenario(raw, source=str(path), base_dir=path.parent, overrides=items)


def dump_scenario_toml(scenario: Scenario) -> str:
    """The effective scenario as TOML (written into every run directory)."""
    data = scenario.model_dump(mode="json", exclude_none=True)
    return _to_toml(data)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return orjson.dumps(v).decode()
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _to_toml(data: dict[str, Any], prefix: str = "") -> str:
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    out = []
    if prefix and scalars:
        out.append(f"[{prefix}]")
    out.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
    if scalars:
        out.append("")
    for k, v in tables.items():
        out.append(_to_toml(v, f"{prefix}.{k}" if prefix else k))
    return "\n".join(out)
