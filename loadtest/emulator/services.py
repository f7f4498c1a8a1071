"""What every provider's state shares: config, ids, geocoder, store and the clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from loadtest.emulator.clock import Clock
from loadtest.emulator.config import EmulatorConfig
from loadtest.emulator.geocode import Geocoder
from loadtest.emulator.ids import IdGen
from loadtest.emulator.store import Store, open_store
from loadtest.emulator.webhooks import EventSink
from loadtest.emulator.webhooks.engine import WebhookEngine


def now_ms() -> int:
    """Wall-clock epoch milliseconds, for code outside a :class:`Runtime`.

    Provider state stamps its records with ``rt.clock.now_ms()`` instead (simulated
    time, see :mod:`loadtest.emulator.clock`), so timestamps run with ``--time-scale``.
    """
    return int(time.time() * 1000)


@dataclass
class Runtime:
    """One emulator instance's shared services.

    ``rng`` is the seeded source for latency and faults; it is separate from the id
    stream so that turning faults on does not change the ids a run produces.
    """

    config: EmulatorConfig
    clock: Clock = field(init=False)
    ids: IdGen = field(init=False)
    geocoder: Geocoder = field(init=False)
    store: Store = field(init=False)
    rng: np.random.Generator = field(init=False)
    # The webhook delivery engine, and the sink provider state emits into (the same
    # object; see loadtest.emulator.webhooks).
    webhooks: WebhookEngine = field(init=False)
    events: EventSink = field(init=False)
    #: Simulated epoch milliseconds (``clock.now_ms``, bound once so call sites stay cheap).
    now_ms: Callable[[], int] = field(init=False)

    def __post_init__(self) -> None:
        self.clock = Clock(self.config.time_scale)
        self.now_ms = self.clock.now_ms
        self.ids = IdGen(self.config.seed)
        self.geocoder = Geocoder(self.config.region)
        self.store = open_store(self.config.db_path)
        self.rng = np.random.default_rng([self.config.seed, 0xE1])
        for rec in self.store.load("meta"):
            self.ids.restore(int(rec["ids"]))
        self.webhooks = WebhookEngine(self.config.webhooks, self.store, self.clock.scale)
        self.webhooks.commit_marks = self.commit
        self.events = self.webhooks

    def commit(self) -> None:
        """Persist the id counter with the records it produced, then commit; the webhook
        events emitted since the last commit become deliveries, whose rows (with ``--db``)
        commit in the same transaction, and only then go to the outbox."""
        deliveries = self.webhooks.prepare()
        if self.store.durable:
            self.store.put("meta", "ids", {"ids": self.ids.state()})
            self.store.commit()
        self.webhooks.release(deliveries)

    def rollback(self) -> None:
        """Drop the writes (and the webhook events) of a request that failed before its
        commit.  The id counter is not rewound: the next commit stores its current state,
        so ids the failed request drew are never issued again."""
        self.store.rollback()
        self.webhooks.discard()

    def close(self) -> None:
        """A clean shutdown: commit what is pending, checkpoint and close the store."""
        self.commit()
        self.store.close()
