"""The operation registry: every op a trace holds has a spec, and the spec is what is sent."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from loadtest.replay.policy import (
    CREATES,
    IDEMPOTENT_CREATES,
    POLL_FLOWS,
    SUBMIT_FLOWS,
    UNCHECKABLE_CREATES,
)
from loadtest.trace.format import DEFAULT_POLL_S, read_trace
from loadtest.trace.onfleet import KNOWN_PROVIDERS, TraceOptions, write_trace
from loadtest.trace.ops import OPS, op_spec
from sim.errors import UserError
from tests.fixtures.scenarios import SCENARIOS


@pytest.fixture(scope="module")
def all_provider_traces(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The tiny scenario in every submission mode, with every partner provider."""
    from sim.run import simulate
    from sim.scenario_io import load_scenario

    root = tmp_path_factory.mktemp("ops")
    out = []
    for mode in ("single", "batch", "batch-async"):
        scenario = load_scenario(SCENARIOS / "tiny.toml", [f"submission.mode={mode}"])
        path = root / f"{mode}.jsonl"
        write_trace(simulate(scenario, seed=7), path, TraceOptions(providers=KNOWN_PROVIDERS))
        out.append(path)
    return out


def test_every_traced_op_has_a_spec_that_matches_the_call(all_provider_traces: list[Path]) -> None:
    seen: set[str] = set()
    for path in all_provider_traces:
        for c in read_trace(path).calls:
            spec = op_spec(c.op)
            assert (c.provider, c.method, c.path) == (spec.provider, spec.method, spec.path)
            seen.add(c.op)
    # Every provider is present, and the registry holds nothing a trace never has, except
    # the look-ups the replay sends itself after a lost answer and the unassignment (which
    # a day has only when a shift ends with tasks still in a container).
    assert {OPS[o].provider for o in seen} == set(KNOWN_PROVIDERS)
    assert set(OPS) - seen <= {"task.get", "order.get", "task.unassign"}
    assert "task.get" not in seen and "order.get" not in seen


def test_unknown_op_is_a_user_error_naming_the_known_ones() -> None:
    with pytest.raises(UserError, match=r"unknown trace operation 'task\.explode'.*task\.create"):
        op_spec("task.explode")


def test_policy_sets_are_the_registry_s() -> None:
    assert {
        "task.create",
        "task.batch",
        "task.batch_async",
        "team.create",
        "worker.create",
        "order.track",
        "nash.batch_job",
        "deftship.batch_create",
    } == CREATES
    assert {"deftship.batch_create"} == UNCHECKABLE_CREATES
    assert {"nash.batch_job"} == IDEMPOTENT_CREATES
    assert POLL_FLOWS == {
        "task.batch_status": "onfleet.batch_async",
        "deftship.wait_ready": "deftship.validate",
        "deftship.wait_shipped": "deftship.ship",
    }
    assert SUBMIT_FLOWS == {
        "task.batch": "onfleet.batch",
        "task.batch_async": "onfleet.batch_async",
        "deftship.batch_create": "deftship.validate",
    }


def test_specs_are_frozen_and_named_by_their_key() -> None:
    for name, spec in OPS.items():
        assert spec.name == name
        assert spec.polls == (spec.method == "GET" and bool(spec.closes))
    with pytest.raises(AttributeError):
        OPS["task.create"].path = "/elsewhere"  # type: ignore[misc]


def test_header_records_poll_s_and_old_headers_still_read(tmp_path: Path) -> None:
    from tests.fixtures.runs import make_day

    path = tmp_path / "trace.jsonl"
    write_trace(make_day("batch-async"), path, TraceOptions(poll_s=4.25))
    lines = path.read_bytes().splitlines()
    assert orjson.loads(lines[0])["poll_s"] == 4.25
    assert read_trace(path).header.poll_s == 4.25
    head = orjson.loads(lines[0])
    del head["poll_s"]  # a trace written before the header said
    path.write_bytes(b"\n".join([orjson.dumps(head), *lines[1:]]) + b"\n")
    assert read_trace(path).header.poll_s == DEFAULT_POLL_S
    head["poll_s"] = -1
    path.write_bytes(b"\n".join([orjson.dumps(head), *lines[1:]]) + b"\n")
    with pytest.raises(UserError, match="poll_s"):
        read_trace(path)
