"""The batch path's validation: the common well-formed task shapes checked inline, with
per-batch memos, and everything else handed to :func:`validate.parse_task`.

A 500-task batch from a load test repeats a handful of shapes: a destination given by
location (or an address), notes, pickupTask, one recipient that most tasks share, perhaps
a time window, quantity and service time.  For those bodies :func:`parse_many` builds the
same :class:`TaskSpec` that :func:`parse_task` would, without its per-key calls; a body
that deviates in any way (another key, another type, a value out of range, anything
:func:`parse_task` could refuse) goes through :func:`parse_task` itself, so every error,
its wording and which problem is named first stay exactly as they were.
tests/loadtest/emulator/test_batch_fastpath.py checks the two agree.
"""

from __future__ import annotations

from typing import Any

from loadtest.emulator.errors import ApiError
from loadtest.emulator.onfleet.validate import _NONE, TaskSpec, normalise_phone, parse_task
from loadtest.providers.onfleet import MAX_NOTES

# The keys the fast path understands; any other key sends the body to parse_task.
_FAST_KEYS = frozenset(
    {
        "destination",
        "notes",
        "pickupTask",
        "recipients",
        "completeAfter",
        "completeBefore",
        "quantity",
        "serviceTime",
    }
)
_DEST_KEYS = frozenset({"location", "notes"})
_RECIPIENT_KEYS = frozenset({"name", "phone", "notes", "skipSMSNotifications"})
_SLOW: Any = object()  # "not a fast shape": parse_task decides


class _Memo:
    """What one batch has already checked: recipients (and so their phones)."""

    __slots__ = ("recipients",)

    def __init__(self) -> None:
        # (name, phone, notes, skip) -> the recipients list parse_task would build; the
        # specs share it (read only: creation reads it, never changes it).
        self.recipients: dict[tuple[Any, ...], list[dict[str, Any]]] = {}


def _recipients(raw: Any, memo: _Memo) -> Any:
    """The spec's recipients for ``[{name, phone[, notes][, skipSMSNotifications]}]``,
    or _SLOW."""
    if type(raw) is not list or len(raw) != 1:
        return _SLOW
    r = raw[0]
    if type(r) is not dict or not r.keys() <= _RECIPIENT_KEYS:
        return _SLOW
    name = r.get("name")
    phone = r.get("phone")
    notes = r.get("notes", "")
    skip = r.get("skipSMSNotifications", False)
    if type(name) is not str or type(phone) is not str:
        return _SLOW
    if type(notes) is not str or type(skip) is not bool:
        return _SLOW
    key = (name, phone, notes, skip)
    got = memo.recipients.get(key)
    if got is None:
        if not name.strip():
            return _SLOW
        try:
            norm = normalise_phone(phone)
        except ApiError:
            return _SLOW
        got = memo.recipients[key] = [{"name": name, "phone": norm, "notes": notes, "skip": skip}]
    return got


def _number(v: Any, upper: float) -> bool:
    """True for a plain (non-bool) int or float in [0, upper)."""
    t = type(v)
    return (t is float or t is int) and 0 <= v < upper


def _epoch_ms(v: Any) -> bool:
    """True for a plain (non-bool) int or float in [0, 10**15] (what _opt_time accepts)."""
    t = type(v)
    return (t is float or t is int) and 0 <= v <= 10**15


def _fast(body: Any, memo: _Memo) -> TaskSpec | None:
    """The spec for a body of a fast shape, or None (parse_task decides)."""
    if type(body) is not dict or not body.keys() <= _FAST_KEYS:
        return None
    dest = body.get("destination")
    if type(dest) is not dict or not dest.keys() <= _DEST_KEYS:
        return None
    loc = dest.get("location")
    if type(loc) is not list or len(loc) != 2:
        return None
    lng, lat = loc
    # Floats only (an int is converted by parse_task); NaN fails every comparison.
    if type(lng) is not float or type(lat) is not float:
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
        return None
    dest_notes = dest.get("notes", "")
    if type(dest_notes) is not str:
        return None
    notes = body.get("notes", "")
    if type(notes) is not str or len(notes) > MAX_NOTES:
        return None
    pickup = body.get("pickupTask", False)
    if type(pickup) is not bool:
        return None
    raw_recipients = body.get("recipients")
    recipients: Any = _NONE_RECIPIENTS
    if raw_recipients is not None:
        recipients = _recipients(raw_recipients, memo)
        if recipients is _SLOW:
            return None
    after = body.get("completeAfter")
    before = body.get("completeBefore")
    if after is not None or before is not None:
        if after is not None and not _epoch_ms(after):
            return None
        if before is not None and not _epoch_ms(before):
            return None
        if after is not None:
            after = int(after)
        if before is not None:
            before = int(before)
        if after is not None and before is not None and after >= before:
            return None
    quantity = body.get("quantity", 0)
    service = body.get("serviceTime", 0)
    # Absent is 0 but null is 0.0, as parse_task has it (the wire shows the difference).
    if quantity is None:
        quantity = 0.0
    elif not _number(quantity, 1e12):
        return None
    if service is None:
        service = 0.0
    elif not _number(service, 1e12):
        return None
    return TaskSpec(
        None,
        (lat, lng),
        None,
        dest_notes,
        recipients if recipients is not _NONE_RECIPIENTS else [],
        notes,
        pickup,
        after,
        before,
        _NONE,
        quantity,
        service,
        None,
        None,
        None,
        _NONE,
        None,
        None,
        None,
        False,
    )


_NONE_RECIPIENTS: Any = object()


def parse_many(bodies: list[Any]) -> list[TaskSpec | ApiError]:
    """One spec (or the 400 that :func:`parse_task` raises) per body, in order."""
    memo = _Memo()
    out: list[TaskSpec | ApiError] = []
    append = out.append
    for b in bodies:
        spec = _fast(b, memo)
        if spec is not None:
            append(spec)
            continue
        try:
            append(parse_task(b))
        except ApiError as exc:
            append(exc)
    return out
