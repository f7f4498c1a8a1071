"""Outgoing webhooks: the providers' state emits events into a sink; the delivery
engine (this package) registers endpoints, signs, sends and retries them.

:class:`EventSink` is the one seam between the two halves.  A provider's state calls
:meth:`EventSink.wants` before it builds a payload (so an emulator with no webhook
registered pays one dict lookup per transition), then :meth:`EventSink.emit`.  Emitted
events are pending until :meth:`loadtest.emulator.services.Runtime.commit`, and dropped
by its rollback, so an event never leaves for a write the client was not told of.
"""

from __future__ import annotations

from typing import Any, Protocol

from loadtest.providers.webhooks import Provider


class EventSink(Protocol):
    """Where provider state sends the events its transitions cause."""

    def wants(self, provider: Provider, name: str) -> bool:
        """Whether any endpoint is subscribed to ``name`` (an Onfleet trigger name, a Nash
        ``"{type}.{event}"``, a HyperTrack order value)."""
        ...

    def emit(
        self,
        provider: Provider,
        name: str,
        subject: str,
        body: Any,
        *,
        measure: float | None = None,
    ) -> None:
        """Queue one event.  ``subject`` is the server id it is about (task, worker, job,
        order handle): deliveries about one subject to one endpoint keep their order.
        ``body`` is the delivery's JSON body as the provider sends it.  ``measure`` is the
        quantity a threshold trigger compares (taskEta: seconds, taskArrival: metres):
        the event goes only to webhooks whose threshold it meets, at most once per
        subject per webhook."""
        ...

    def done(self, subject: str) -> None:
        """``subject`` (a task) is final: it causes no more threshold events, so what was
        remembered of it for "at most once per subject" can go (at the commit)."""
        ...


class NullSink:
    """No endpoint is registered: nothing is wanted and nothing is sent."""

    def wants(self, provider: Provider, name: str) -> bool:
        return False

    def emit(
        self,
        provider: Provider,
        name: str,
        subject: str,
        body: Any,
        *,
        measure: float | None = None,
    ) -> None:
        return None

    def done(self, subject: str) -> None:
        return None
