"""The experiment grid: swept parameters, their variants, and the runs (variant × seed).

Concepts held here:

* :class:`Param` -- one ``--set section.key=v1,v2,...`` axis, values parsed as TOML.
* :class:`Variant` -- one point of the grid (a value for every swept parameter), which
  becomes the scenario overrides ``["section.key=value", ...]``.
* :class:`RunSpec` -- one run: a variant and a seed, with a stable ``run_id``.
* :func:`expand_grid` / :func:`plan_runs` -- the cartesian product, in a fixed order, and
  the runs over the replication seeds ``base_seed + i`` (the same for every variant, so
  every variant sees the same demand: common random numbers).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sim.errors import UserError
from sim.scenario_io import parse_set_value

ParamValue = int | float | bool | str
RunId = str
FLEET = "fleet.workers"  # the parameter a --target search varies


@dataclass(frozen=True, slots=True)
class Param:
    """One swept parameter: a dotted scenario path and the values it takes, in order."""

    path: str
    values: tuple[ParamValue, ...]
    raw: tuple[str, ...]  # the values as the user wrote them, for the overrides


@dataclass(frozen=True, slots=True)
class Variant:
    """One point of the grid: ``(path, value)`` for every swept parameter, in grid order."""

    items: tuple[tuple[str, ParamValue], ...]
    raw: tuple[str, ...] = ()

    @property
    def overrides(self) -> list[str]:
        """The scenario overrides that realise this variant (``section.key=value``)."""
        raws = self.raw or tuple(_toml_literal(v) for _, v in self.items)
        return [f"{path}={raw}" for (path, _), raw in zip(self.items, raws, strict=True)]

    @property
    def settings(self) -> list[tuple[str, Any]]:
        """``(path, typed value)`` to set on the raw scenario mapping: the swept values as
        parsed, except arrays and tables (kept as text in ``items``), parsed from ``raw``."""
        raws = self.raw or tuple(_toml_literal(v) for _, v in self.items)
        return [
            (path, parse_set_value(text) if isinstance(value, str) else value)
            for (path, value), text in zip(self.items, raws, strict=True)
        ]

    @property
    def params(self) -> dict[str, ParamValue]:
        return dict(self.items)

    def label(self) -> str:
        """A short human label such as ``fleet.workers=60, dispatch.policy=load``."""
        return ", ".join(f"{p}={v}" for p, v in self.items) or "(base scenario)"

    def with_value(self, path: str, value: ParamValue) -> Variant:
        """This variant with ``path`` set to ``value`` (added at the end when not swept)."""
        items = [(p, value if p == path else v) for p, v in self.items]
        raws = list(self.raw or tuple(_toml_literal(v) for _, v in self.items))
        if path in self.params:
            raws[[p for p, _ in self.items].index(path)] = _toml_literal(value)
        else:
            items.append((path, value))
            raws.append(_toml_literal(value))
        return Variant(tuple(items), tuple(raws))

    def without(self, path: str) -> Variant:
        keep = [i for i, (p, _) in enumerate(self.items) if p != path]
        raws = self.raw or tuple(_toml_literal(v) for _, v in self.items)
        return Variant(tuple(self.items[i] for i in keep), tuple(raws[i] for i in keep))


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One run of the sweep: a variant at a seed.  ``phase`` is ``grid`` or ``search``."""

    run_id: RunId
    variant: Variant
    seed: int
    phase: str = "grid"


def parse_value(raw: str) -> ParamValue:
    """A swept value as ``--set`` parses it (:func:`sim.scenario_io.parse_set_value`); arrays
    and tables are kept as the text the user wrote, so a sweep's columns stay scalar."""
    value = parse_set_value(raw)
    if isinstance(value, bool | int | float | str):
        return value
    return raw.strip()


def _toml_literal(value: ParamValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def split_values(text: str) -> list[str]:
    """Split ``a,b,c`` on commas outside quotes and brackets (TOML arrays may hold commas)."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def parse_set(spec: str) -> Param:
    """Parse one ``--set section.key=v1,v2`` into a :class:`Param`; errors name the fix."""
    path, sep, values_text = spec.partition("=")
    path = path.strip()
    if not sep or not path or "." not in path or not values_text.strip():
        raise UserError(
            f"--set {spec!r}: expected section.key=value[,value...], "
            "e.g. --set fleet.workers=60,80,100"
        )
    raws = split_values(values_text)
    if any(not r for r in raws):
        raise UserError(f"--set {spec!r}: empty value in the list {values_text!r}")
    if len(set(raws)) != len(raws):
        raise UserError(f"--set {spec!r}: a value is listed twice")
    return Param(path=path, values=tuple(parse_value(r) for r in raws), raw=tuple(raws))


def parse_sets(specs: Sequence[str]) -> list[Param]:
    params = [parse_set(s) for s in specs]
    seen: set[str] = set()
    for p in params:
        if p.path in seen:
            raise UserError(f"--set {p.path}: given twice; list all its values in one --set")
        seen.add(p.path)
    return params


def expand_grid(params: Sequence[Param]) -> list[Variant]:
    """Every combination of the parameters' values; the first parameter varies slowest.

    With no parameters the grid is the base scenario alone (one empty variant).
    """
    axes = [list(zip(p.values, p.raw, strict=True)) for p in params]
    variants: list[Variant] = []
    for combo in itertools.product(*axes):
        items = tuple((p.path, v) for p, (v, _) in zip(params, combo, strict=True))
        raws = tuple(r for _, r in combo)
        variants.append(Variant(items, raws))
    return variants


def replication_seeds(base_seed: int, n: int) -> list[int]:
    """The seeds of ``n`` replications: ``base_seed + i``, shared by every variant."""
    if n < 1:
        raise UserError(f"--seeds {n}: need at least 1 replication")
    return [base_seed + i for i in range(n)]


def run_id_for(scenario_key: str, variant: Variant, seed: int) -> RunId:
    """A stable id from the scenario's content, the parameters and the seed.

    The parameters are sorted by path, so the order of ``--set`` flags does not matter,
    and values are typed (``60`` and ``"60"`` differ), so ``--resume`` finds a run again
    exactly when it would produce the same result.
    """
    h = hashlib.sha256()
    h.update(scenario_key.encode())
    for path, value in sorted(variant.items):
        h.update(f"\x00{path}\x00{type(value).__name__}\x00{value!r}".encode())
    h.update(f"\x00seed\x00{seed}".encode())
    return h.hexdigest()[:16]


def plan_runs(
    scenario_key: str, variants: Sequence[Variant], seeds: Sequence[int], phase: str = "grid"
) -> list[RunSpec]:
    """The runs of a grid: variants in grid order, each over every seed."""
    return [RunSpec(run_id_for(scenario_key, v, s), v, s, phase) for v in variants for s in seeds]
