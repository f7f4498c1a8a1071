"""Registered webhook endpoints and the index the sink answers ``wants`` from.

* :class:`Endpoint` -- one receiver: its provider, URL, the event names it takes (all
  when ``events`` is None) and, for Onfleet, the trigger and threshold it was created
  with and the deliveries made so far (``count``).
* :class:`Registry` -- the endpoints by id plus two indexes kept in step with them:
  endpoints by ``(provider, name)`` and the all-events endpoints by provider, so
  :meth:`Registry.wants` is two dict lookups however many endpoints there are.

Endpoints come from three places (``source``): Onfleet's ``POST /webhooks`` (``api``),
the emulator-only route ``/emulator/v1/webhooks`` (``emulator``), both kept in the store
(kind ``webhook-endpoint``), and ``--webhook provider=URL`` (``flag``), registered
afresh at every start under stable ids so a restart resumes their pending deliveries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadtest.emulator.store import Store
from loadtest.providers.webhooks import (
    ONFLEET_TRIGGER_IDS,
    ONFLEET_TRIGGERS,
    PROVIDERS,
    REPLAY_ARRIVAL_THRESHOLD_M,
    REPLAY_ETA_THRESHOLD_S,
    Provider,
)

KIND = "webhook-endpoint"
#: Thresholds of an all-events Onfleet endpoint (``--webhook onfleet=URL``): the replay's,
#: which every simulated start and arrival meets.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "taskEta": float(REPLAY_ETA_THRESHOLD_S),
    "taskArrival": float(REPLAY_ARRIVAL_THRESHOLD_M),
}
THRESHOLD_NAMES = frozenset(DEFAULT_THRESHOLDS)


@dataclass(slots=True)
class Endpoint:
    """One registered receiver (see the module docstring)."""

    id: str
    provider: Provider
    url: str
    events: frozenset[str] | None  # None: every event of the provider
    source: str = "api"
    name: str = ""
    trigger: int | None = None
    threshold: float | None = None
    count: int = 0
    created_ms: int = 0

    def takes(self, name: str, measure: float | None) -> bool:
        """Whether an event ``name`` with ``measure`` goes here (threshold triggers: only
        when the webhook's threshold is at least the measure)."""
        if measure is None or name not in THRESHOLD_NAMES:
            return True
        limit = self.threshold if self.trigger is not None else DEFAULT_THRESHOLDS[name]
        return limit is None or limit >= measure

    def onfleet_json(self) -> dict[str, Any]:
        """Onfleet's webhook object."""
        return {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "trigger": self.trigger,
            "threshold": _number(self.threshold),
            "count": self.count,
            "isEnabled": True,
        }

    def emulator_json(self) -> dict[str, Any]:
        """The emulator route's object (the signing secret is added by the route)."""
        return {
            "id": self.id,
            "provider": self.provider,
            "url": self.url,
            "events": None if self.events is None else sorted(self.events),
            "source": self.source,
            "count": self.count,
        }

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "url": self.url,
            "events": None if self.events is None else sorted(self.events),
            "source": self.source,
            "name": self.name,
            "trigger": self.trigger,
            "threshold": self.threshold,
            "count": self.count,
            "created_ms": self.created_ms,
        }

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Endpoint:
        events = d.get("events")
        return cls(
            id=str(d["id"]),
            provider=d["provider"],
            url=str(d["url"]),
            events=None if events is None else frozenset(events),
            source=str(d.get("source", "api")),
            name=str(d.get("name", "")),
            trigger=d.get("trigger"),
            threshold=d.get("threshold"),
            count=int(d.get("count", 0)),
            created_ms=int(d.get("created_ms", 0)),
        )


def _number(v: float | None) -> float | int | None:
    """A threshold as it was given: 300, not 300.0."""
    if v is None:
        return None
    return int(v) if float(v).is_integer() else v


class Registry:
    """Endpoints by id and the ``wants`` indexes (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.endpoints: dict[str, Endpoint] = {}
        self._by_name: dict[tuple[str, str], list[Endpoint]] = {}
        self._all: dict[str, list[Endpoint]] = {p: [] for p in PROVIDERS}
        for d in store.load(KIND):
            if not d.get("deleted"):
                self._index(Endpoint.from_record(d))

    def _index(self, ep: Endpoint) -> None:
        self.endpoints[ep.id] = ep
        if ep.events is None:
            self._all[ep.provider].append(ep)
        else:
            for name in ep.events:
                self._by_name.setdefault((ep.provider, name), []).append(ep)

    def add(self, ep: Endpoint, *, persist: bool = True) -> None:
        """Register ``ep`` (kept in the store when ``persist``; the caller commits)."""
        self._index(ep)
        if persist and self.store.durable:
            self.store.put(KIND, ep.id, ep.to_record())

    def remove(self, endpoint_id: str) -> Endpoint | None:
        """Unregister one endpoint (the caller commits); None when unknown."""
        ep = self.endpoints.pop(endpoint_id, None)
        if ep is None:
            return None
        if ep.events is None:
            self._all[ep.provider].remove(ep)
        else:
            for name in ep.events:
                eps = self._by_name[(ep.provider, name)]
                eps.remove(ep)
                if not eps:
                    del self._by_name[(ep.provider, name)]
        if ep.source != "flag" and self.store.durable:
            self.store.put(KIND, ep.id, {"id": ep.id, "deleted": True})
        return ep

    def save(self, ep: Endpoint) -> None:
        """Put ``ep``'s record again (its ``count`` changed); flag endpoints are not kept."""
        if ep.source != "flag" and self.store.durable and ep.id in self.endpoints:
            self.store.put(KIND, ep.id, ep.to_record())

    def wants(self, provider: Provider, name: str) -> bool:
        return (provider, name) in self._by_name or bool(self._all[provider])

    def targets(self, provider: Provider, name: str) -> list[Endpoint]:
        """Every endpoint an event ``name`` of ``provider`` goes to, oldest first."""
        named = self._by_name.get((provider, name))
        everything = self._all[provider]
        if named is None:
            return everything
        return [*everything, *named] if everything else named

    def onfleet_hooks(self) -> list[Endpoint]:
        """Onfleet's own webhooks (``POST /webhooks``), in creation order."""
        return [e for e in self.endpoints.values() if e.source == "api"]

    def count_trigger(self, trigger: int) -> int:
        return sum(1 for e in self.endpoints.values() if e.trigger == trigger)


def trigger_name(trigger: int) -> str:
    return ONFLEET_TRIGGERS[trigger]


def known_trigger(name: str) -> bool:
    return name in ONFLEET_TRIGGER_IDS
