"""Fixtures for the load-test suite."""

from __future__ import annotations

import pytest
from lt_fakes import FakeResult, make_day


@pytest.fixture
def day() -> FakeResult:
    return make_day()
