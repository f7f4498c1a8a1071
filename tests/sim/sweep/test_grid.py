"""Grid expansion, value parsing, run ids and replication seeds."""

from __future__ import annotations

import pytest

from sim.errors import UserError
from sim.sweep.grid import (
    Variant,
    expand_grid,
    parse_set,
    parse_sets,
    plan_runs,
    replication_seeds,
    run_id_for,
)


def test_expand_grid_is_the_cartesian_product_first_parameter_slowest() -> None:
    params = parse_sets(["fleet.workers=60,80,100", "dispatch.policy=distance,load"])
    variants = expand_grid(params)
    assert [v.items for v in variants] == [
        (("fleet.workers", 60), ("dispatch.policy", "distance")),
        (("fleet.workers", 60), ("dispatch.policy", "load")),
        (("fleet.workers", 80), ("dispatch.policy", "distance")),
        (("fleet.workers", 80), ("dispatch.policy", "load")),
        (("fleet.workers", 100), ("dispatch.policy", "distance")),
        (("fleet.workers", 100), ("dispatch.policy", "load")),
    ]
    assert variants[1].overrides == ["fleet.workers=60", "dispatch.policy=load"]


def test_no_parameters_is_one_base_variant() -> None:
    assert expand_grid([]) == [Variant(())]
    assert Variant(()).overrides == []


def test_values_are_parsed_as_toml() -> None:
    p = parse_set('a.b=1, 2.5 ,true,word,"quoted, text",[1,2]')
    assert p.values == (1, 2.5, True, "word", "quoted, text", "[1,2]")
    assert p.raw[4] == '"quoted, text"'


@pytest.mark.parametrize(
    "spec",
    ["fleet.workers", "workers=1,2", "fleet.workers=", "fleet.workers=1,,2", "fleet.workers=1,1"],
)
def test_bad_set_is_a_user_error(spec: str) -> None:
    with pytest.raises(UserError, match="--set"):
        parse_set(spec)


def test_same_parameter_twice_is_a_user_error() -> None:
    with pytest.raises(UserError, match="given twice"):
        parse_sets(["fleet.workers=1", "fleet.workers=2"])


def test_run_id_is_stable_and_order_independent() -> None:
    a = Variant((("fleet.workers", 60), ("dispatch.policy", "load")))
    b = Variant((("dispatch.policy", "load"), ("fleet.workers", 60)))
    assert run_id_for("k", a, 7) == run_id_for("k", b, 7)
    assert len(run_id_for("k", a, 7)) == 16
    assert run_id_for("k", a, 7) != run_id_for("k", a, 8)
    assert run_id_for("k", a, 7) != run_id_for("other", a, 7)
    c = Variant((("fleet.workers", "60"), ("dispatch.policy", "load")))
    assert run_id_for("k", a, 7) != run_id_for("k", c, 7)


def test_seeds_are_base_plus_i_for_every_variant() -> None:
    seeds = replication_seeds(7, 3)
    assert seeds == [7, 8, 9]
    variants = expand_grid(parse_sets(["fleet.workers=1,2"]))
    runs = plan_runs("k", variants, seeds)
    assert [(r.variant.params["fleet.workers"], r.seed) for r in runs] == [
        (1, 7),
        (1, 8),
        (1, 9),
        (2, 7),
        (2, 8),
        (2, 9),
    ]
    assert len({r.run_id for r in runs}) == 6
    with pytest.raises(UserError):
        replication_seeds(7, 0)


def test_with_value_and_without() -> None:
    v = Variant((("fleet.workers", 60), ("dispatch.policy", "load")), ("60", "load"))
    assert v.without("fleet.workers").items == (("dispatch.policy", "load"),)
    w = v.without("fleet.workers").with_value("fleet.workers", 61)
    assert w.params == {"dispatch.policy": "load", "fleet.workers": 61}
    assert w.overrides == ["dispatch.policy=load", "fleet.workers=61"]
    assert run_id_for("k", w, 1) == run_id_for("k", v.with_value("fleet.workers", 61), 1)
