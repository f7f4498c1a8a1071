"""The SDK harness itself works: both official SDKs reach the emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def test_pyonfleet_reaches_the_emulator(pyonfleet: Any) -> None:
    workers = pyonfleet.workers.get()
    assert isinstance(workers, list)
    assert isinstance(pyonfleet.tasks.get(queryParams={"from": 0})["tasks"], list)


def test_node_onfleet_reaches_the_emulator(node_sdk: Callable[..., Any]) -> None:
    out = node_sdk("smoke.mjs")
    assert out["tasks"] == 0 and out["workers"] >= 0
