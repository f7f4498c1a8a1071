"""The replay's master/worker messages: their names, typed bodies and checked reading.

Concepts held here: the message names (``MSG_*``), their bodies (:class:`PlanMessage`,
:class:`SamplesMessage`, :class:`FinalMessage`, :class:`DoneMessage`,
:class:`AbortMessage`), the plan's round trip (:func:`plan_to_message`,
:func:`plan_from_message`) and the checked reading of the others (``*_from_message``),
raising :class:`ProtocolError` for anything this version does not send.  The session that
speaks them is :mod:`loadtest.replay.distributed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict, cast

from loadtest.replay.partition import ReplayPlan
from loadtest.replay.stats import RecorderDelta

MSG_PLAN = "fleetsim_plan"  # master → one worker: PlanMessage
MSG_DATA = "fleetsim_data"  # worker → master: SamplesMessage, every REPORT_EVERY_S
MSG_FLUSH = "fleetsim_flush"  # master → every worker: no body; answered by MSG_FINAL
MSG_FINAL = "fleetsim_final"  # worker → master: FinalMessage, its last samples
MSG_DONE = "fleetsim_done"  # worker → master: DoneMessage, its partition has been sent
MSG_ABORT = "fleetsim_abort"  # worker → master: AbortMessage, the run cannot go on
#: worker 0 → master: no body; its webhook receiver is up and registered on the target
MSG_HOOKS_READY = "fleetsim_hooks_ready"
#: master → every worker: no body; the webhooks are registered, send (MSG_HOOKS_READY)
MSG_GO = "fleetsim_go"


class ProtocolError(ValueError):
    """A message that does not have the shape this version of the protocol sends."""


class PlanMessage(TypedDict):
    """A :class:`ReplayPlan` on the wire; one key per field of the plan."""

    trace: str
    speedup: float
    run_id: str
    t0_epoch: float
    index: int
    parts: int
    run_time_s: float
    skip_ops: list[str]  # a list: Locust's msgpack has no tuples
    scale: int


class SamplesMessage(TypedDict):
    """A worker's samples since its last report."""

    index: int
    data: RecorderDelta


class FinalMessage(TypedDict):
    """A worker's last samples, its peak CPU over the run (%) and the highest CPU it
    held for a whole window (%, :mod:`loadtest.replay.saturation`)."""

    index: int
    data: RecorderDelta
    cpu: float
    cpu_sustained: float


class DoneMessage(TypedDict):
    """A worker has sent every call of its partition."""

    index: int


class AbortMessage(TypedDict):
    """A worker cannot run its part (e.g. the target refused the webhook registration)."""

    index: int
    error: str


def plan_to_message(plan: ReplayPlan) -> PlanMessage:
    return PlanMessage(
        trace=plan.trace,
        speedup=plan.speedup,
        run_id=plan.run_id,
        t0_epoch=plan.t0_epoch,
        index=plan.index,
        parts=plan.parts,
        run_time_s=plan.run_time_s,
        skip_ops=list(plan.skip_ops),
        scale=plan.scale,
    )


def plan_from_message(data: object) -> ReplayPlan:
    """The plan a :data:`MSG_PLAN` carries; :class:`ProtocolError` names what is wrong."""
    body = _mapping(MSG_PLAN, data, PlanMessage.__required_keys__)
    skip_ops = body["skip_ops"]
    if not isinstance(skip_ops, list | tuple) or not all(isinstance(s, str) for s in skip_ops):
        raise ProtocolError(f"{MSG_PLAN}: skip_ops {skip_ops!r}: expected a list of strings")
    return ReplayPlan(
        trace=_str(MSG_PLAN, body, "trace"),
        speedup=_float(MSG_PLAN, body, "speedup"),
        run_id=_str(MSG_PLAN, body, "run_id"),
        t0_epoch=_float(MSG_PLAN, body, "t0_epoch"),
        index=_int(MSG_PLAN, body, "index"),
        parts=_int(MSG_PLAN, body, "parts"),
        run_time_s=_float(MSG_PLAN, body, "run_time_s"),
        skip_ops=tuple(skip_ops),
        scale=_int(MSG_PLAN, body, "scale"),
    )


def samples_from_message(data: object) -> SamplesMessage:
    body = _mapping(MSG_DATA, data, SamplesMessage.__required_keys__)
    return SamplesMessage(index=_int(MSG_DATA, body, "index"), data=_delta(MSG_DATA, body))


def final_from_message(data: object) -> FinalMessage:
    body = _mapping(MSG_FINAL, data, FinalMessage.__required_keys__)
    return FinalMessage(
        index=_int(MSG_FINAL, body, "index"),
        data=_delta(MSG_FINAL, body),
        cpu=_float(MSG_FINAL, body, "cpu"),
        cpu_sustained=_float(MSG_FINAL, body, "cpu_sustained"),
    )


def done_from_message(data: object) -> DoneMessage:
    body = _mapping(MSG_DONE, data, DoneMessage.__required_keys__)
    return DoneMessage(index=_int(MSG_DONE, body, "index"))


def abort_from_message(data: object) -> AbortMessage:
    body = _mapping(MSG_ABORT, data, AbortMessage.__required_keys__)
    return AbortMessage(index=_int(MSG_ABORT, body, "index"), error=_str(MSG_ABORT, body, "error"))


def _mapping(msg_type: str, data: object, keys: frozenset[str]) -> Mapping[str, object]:
    if not isinstance(data, Mapping):
        raise ProtocolError(f"{msg_type}: expected a mapping, got {type(data).__name__}")
    missing = sorted(keys - data.keys())
    unknown = sorted(str(k) for k in data.keys() - keys)
    if missing or unknown:
        raise ProtocolError(
            f"{msg_type}: missing {missing}, unknown {unknown}; "
            "are the master and the workers the same version?"
        )
    return data


def _delta(msg_type: str, body: Mapping[str, object]) -> RecorderDelta:
    delta = body["data"]
    if not isinstance(delta, dict):
        raise ProtocolError(f"{msg_type}: data {delta!r}: expected the samples as a mapping")
    keys = RecorderDelta.__required_keys__
    missing = sorted(keys - delta.keys())
    unknown = sorted(str(k) for k in delta.keys() - keys)
    if missing or unknown:
        raise ProtocolError(
            f"{msg_type}: data: missing {missing}, unknown {unknown}; "
            "are the master and the workers the same version?"
        )
    return cast(RecorderDelta, delta)


def _str(msg_type: str, body: Mapping[str, object], key: str) -> str:
    v = body[key]
    if not isinstance(v, str):
        raise ProtocolError(f"{msg_type}: {key} {v!r}: expected a string")
    return v


def _float(msg_type: str, body: Mapping[str, object], key: str) -> float:
    v = body[key]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ProtocolError(f"{msg_type}: {key} {v!r}: expected a number")
    return float(v)


def _int(msg_type: str, body: Mapping[str, object], key: str) -> int:
    v = body[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise ProtocolError(f"{msg_type}: {key} {v!r}: expected an integer")
    return v
