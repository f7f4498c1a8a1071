"""Fixtures for the emulator tests: an in-process client and a real ``fleetsim emulate``
subprocess on a free loopback port (helpers live in ``helpers``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loadtest.emulator.serve import EmulatorProcess
from tests.loadtest.emulator.helpers import KEY, TestClient, make_client, onfleet_auth


@pytest.fixture
def client() -> Iterator[TestClient]:
    with make_client() as c:
        c.headers.update(onfleet_auth())
        yield c


@pytest.fixture
def served() -> Iterator[EmulatorProcess]:
    p = EmulatorProcess("--api-key", KEY)
    yield p
    p.stop()
