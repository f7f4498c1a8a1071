"""A recording :class:`~loadtest.emulator.webhooks.EventSink` for the webhook-event tests,
and a client whose emulator emits into one."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from loadtest.providers.webhooks import Provider
from tests.loadtest.emulator.helpers import TestClient, make_client, onfleet_auth


@dataclass(frozen=True, slots=True)
class Emitted:
    """One event as the provider state emitted it."""

    provider: Provider
    name: str
    subject: str
    body: Any
    measure: float | None


class RecordingSink:
    """Records every emitted event; ``wanted`` (None: everything) is what it subscribes
    to, so a test can check that unwanted events are never built."""

    def __init__(self, wanted: Collection[str] | None = None) -> None:
        self.wanted = wanted
        self.events: list[Emitted] = []
        self.asked: Counter[str] = Counter()
        self.finished: list[str] = []  # subjects the state declared final (done)

    def wants(self, provider: Provider, name: str) -> bool:
        self.asked[name] += 1
        return self.wanted is None or name in self.wanted

    def emit(
        self,
        provider: Provider,
        name: str,
        subject: str,
        body: Any,
        *,
        measure: float | None = None,
    ) -> None:
        assert self.wants(provider, name), f"{name} emitted without being wanted"
        self.events.append(Emitted(provider, name, subject, body, measure))

    def done(self, subject: str) -> None:
        self.finished.append(subject)

    def names(self, subject: str | None = None) -> list[str]:
        return [e.name for e in self.events if subject is None or e.subject == subject]

    def of(self, name: str) -> list[Emitted]:
        return [e for e in self.events if e.name == name]

    def clear(self) -> None:
        self.events.clear()


def sink_of(client: TestClient, sink: RecordingSink | None = None) -> RecordingSink:
    """Put a recording sink on the client's emulator (``app.state.emulator.rt``)."""
    sink = sink or RecordingSink()
    client.app.state.emulator.rt.events = sink  # type: ignore[attr-defined]
    return sink


@contextmanager
def recording_client(**overrides: Any) -> Iterator[tuple[TestClient, RecordingSink]]:
    """An in-process Onfleet-authenticated client and the sink its emulator emits into."""
    with make_client(**overrides) as client:
        client.headers.update(onfleet_auth())
        yield client, sink_of(client)
