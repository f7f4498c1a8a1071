"""Request constraints the server enforces beyond the providers' pydantic models.

:func:`constrain` merges them into the document's component schemas, so that a body the
document allows is a body the server accepts: schemathesis' positive generator then makes
accepted bodies, and a stateful run goes on from the creates it sends.
"""

from __future__ import annotations

from typing import Any

from loadtest.emulator.hypertrack.model import STATUSES as HT_STATUSES
from loadtest.providers import hypertrack, onfleet

#: Onfleet's accepted phone forms (``normalise_phone``): ``+`` and 8-15 digits, or a US
#: number of 10 digits (not starting 0 or 1) or 11 starting with 1, with separators.
_SEP = r"[ ().-]*"
ONFLEET_PHONE = (
    rf"^(?:\+{_SEP}(?:[0-9]{_SEP}){{8,15}}|{_SEP}[2-9]{_SEP}(?:[0-9]{_SEP}){{9}}"
    rf"|{_SEP}1{_SEP}(?:[0-9]{_SEP}){{10}})$"
)
_E164 = r"^\+[0-9]{8,15}$"
#: ``[longitude, latitude]``: ``prefixItems`` replaces ``items`` for the first two, so each
#: names its type again.
_LNG_LAT = {
    "prefixItems": [
        {"type": "number", "minimum": -180, "maximum": 180},
        {"type": "number", "minimum": -90, "maximum": 90},
    ]
}
_NON_NEGATIVE = {"minimum": 0}
#: An integer the server reads exactly: JSON's larger ones arrive as floats.
_COUNT = {"minimum": 0, "maximum": 2**53}
_EPOCH_MS = {"minimum": 0, "maximum": 10**15}
_SIDES = ("pickup", "dropoff")
#: A string with something in it besides spaces.
_TEXT = {"type": "string", "pattern": r"\S"}
#: An ISO-8601 time as HyperTrack takes it (``Z`` or an offset; a naive one is UTC): the
#: pattern keeps to dates every month has, which is all a generator needs.
_ISO_TIME = {
    "pattern": r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3])"
    r":[0-5][0-9]:[0-5][0-9](Z|[+-]0[0-9]:00)?$"
}
#: A field left out (or null), in an :func:`_either` alternative.
_ABSENT: dict[str, Any] = {"type": "null"}


def _either(*alternatives: dict[str, Any]) -> dict[str, Any]:
    """One of these groups of fields is required, each field valid against its schema:
    ``anyOf`` of ``required`` (client generators build no union from it; schemathesis'
    generator keeps it in its positive cases)."""
    return {
        "anyOf": [
            {"required": [n for n, v in alt.items() if v is not _ABSENT], "properties": alt}
            for alt in alternatives
        ]
    }


def _nash_side(side: str) -> dict[str, Any]:
    """A Nash package side: both coordinates, or (with neither) an address line."""
    lat, lng = f"{side}Latitude", f"{side}Longitude"
    return _either(
        {lat: {"type": "number"}, lng: {"type": "number"}},
        {f"{side}Address": _TEXT, lat: _ABSENT, lng: _ABSENT},
    )


_FILLED = {"type": "string", "minLength": 1}
_LOOPBACK_URL = r"^https?://(127\.0\.0\.1|localhost)(:[1-9][0-9]{0,3})?(/[A-Za-z0-9/_-]*)?$"
_ONFLEET_DESTINATION = {
    "description": "An address or a location ([longitude, latitude]) is required.",
    "properties": {"location": _LNG_LAT},
    "allOf": [_either({"location": {"type": "array"}}, {"address": {"type": "object"}})],
}
_NAME_PHONE = {"properties": {"name": {"pattern": r"\S"}, "phone": {"pattern": ONFLEET_PHONE}}}
#: A task's inline recipient: the server takes no null for the SMS flag.
_RECIPIENT = {
    "properties": {
        "name": {"pattern": r"\S"},
        "phone": {"pattern": ONFLEET_PHONE},
        "skipSMSNotifications": {"type": "boolean", "default": False},
    }
}


#: Request constraints the server enforces that the providers' models leave out (schema
#: name -> keywords merged into the schema; ``properties`` -> field -> keywords merged into
#: the field), so that what the document allows the server accepts, as far as JSON Schema
#: can say it in keywords that client generators also read.  Either/or rules (an address
#: or a location) are stated in ``description`` rather than as ``anyOf`` of ``required``:
#: openapi-python-client turns those into unions it cannot always build.  Ids must also
#: exist, and time windows must be ordered.
_CONSTRAINTS: dict[str, dict[str, Any]] = {
    "TaskBatch": {"properties": {"tasks": {"minItems": 1, "maxItems": onfleet.MAX_BATCH}}},
    "TaskCreate": {
        "properties": {
            "completeAfter": _EPOCH_MS,
            "completeBefore": _EPOCH_MS,
            "quantity": {"minimum": 0, "exclusiveMaximum": 1e12},
            "serviceTime": {"minimum": 0, "exclusiveMaximum": 1e12},
        }
    },
    "OnfleetDestination": _ONFLEET_DESTINATION,
    "DestinationCreate": _ONFLEET_DESTINATION,
    "OnfleetAddress": {
        "description": "unparsed, or street and city, is required (all values strings).",
        "additionalProperties": {"type": ["string", "null"]},
        "allOf": [_either({"unparsed": _FILLED}, {"street": _FILLED, "city": _FILLED})],
    },
    "Recipient": _RECIPIENT,
    "RecipientCreate": _NAME_PHONE,
    "AutoAssign": {"properties": {"maxAssignedTaskCount": _NON_NEGATIVE}},
    "WorkerCreate": {
        "properties": {"name": {"pattern": r"\S"}, "phone": {"pattern": ONFLEET_PHONE}}
    },
    "DutyChange": {"properties": {"location": _LNG_LAT}},
    "Move": {"properties": {"location": _LNG_LAT}},
    "TrackRequest": {
        "description": "worker_handle or device_id is required.",
        "properties": {"orders": {"maxItems": hypertrack.MAX_ORDERS_PER_TRACK}},
        "allOf": [_either({"worker_handle": _TEXT}, {"device_id": _TEXT})],
    },
    "OrderIn": {
        "properties": {
            "expected_service_time": _COUNT,
            "order_handle": {"pattern": r"^[^/]*[^\s/][^/]*$"},
            "scheduled_at": _ISO_TIME,
        }
    },
    "OrderPatch": {"properties": {"scheduled_at": _ISO_TIME}},
    "HypertrackDestination": {
        "description": "geometry, address or place_handle is required.",
        "properties": {"radius": {"minimum": 1, "maximum": 2**53}},
        "allOf": [
            _either(
                {"geometry": {"type": "object"}},
                {"geometry": _ABSENT, "address": _TEXT},
                {"geometry": _ABSENT, "address": _ABSENT, "place_handle": _TEXT},
            )
        ],
    },
    "Geometry": {"properties": {"coordinates": _LNG_LAT}},
    "Package": {
        "description": "Each side needs both coordinates or an address line.",
        "allOf": [_nash_side(side) for side in _SIDES],
        "properties": {
            **{
                f"{side}{axis}": {"minimum": -lim, "maximum": lim}
                for side in ("pickup", "dropoff")
                for axis, lim in (("Latitude", 90), ("Longitude", 180))
            },
            **{f"{side}PhoneNumber": {"pattern": _E164} for side in ("pickup", "dropoff")},
            **{k: _COUNT for k in ("packageValueCents", "tipAmountCents", "itemsCount")},
        },
    },
    "PackagePatch": {"minProperties": 1},
    # the emulator posts webhooks to loopback only (unless started to allow remote hosts)
    "EndpointBody": {"properties": {"url": {"pattern": _LOOPBACK_URL}}},
    "BatchCreate": {"properties": {"service": {"minLength": 1}}},
}


def constrain(schemas: dict[str, Any]) -> None:
    for name, keywords in _CONSTRAINTS.items():
        schema = schemas.get(name)
        if schema is None:
            continue
        for key, value in keywords.items():
            if key == "properties":
                for field_name, extra in value.items():
                    schema["properties"][field_name].update(extra)
            else:
                schema[key] = value


_HT_STATUS = "(" + "|".join(HT_STATUSES) + ")"
_HT_SELECT: dict[str, dict[str, Any]] = {
    "type": {"enum": ["pick", "drop"]},
    "type_index": _NON_NEGATIVE,
    "fulfillment_attempt": _NON_NEGATIVE,
    "limit": {"minimum": 1, "maximum": hypertrack.MAX_PAGE},
    "status": {"pattern": f"^{_HT_STATUS}(,{_HT_STATUS})*$"},
}
#: The same for query parameters: (path prefix, name) -> keywords merged into the
#: parameter's schema.
QUERY_CONSTRAINTS: dict[tuple[str, str], dict[str, Any]] = {
    **{(hypertrack.BASE_PATH, k): v for k, v in _HT_SELECT.items()},
    **{(hypertrack.CONTROL_PATH, k): v for k, v in _HT_SELECT.items()},
    **{(onfleet.BASE_PATH, k): _NON_NEGATIVE for k in ("from", "to")},
}


def query_schema(path: str, name: str, json_type: str) -> dict[str, Any]:
    """The schema of query parameter ``name`` of ``path``."""
    out: dict[str, Any] = {"type": json_type}
    for (prefix, param), keywords in QUERY_CONSTRAINTS.items():
        if param == name and path.startswith(prefix):
            out.update(keywords)
    return out
