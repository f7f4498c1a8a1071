"""Fixtures for the simulator tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from simkit import REPO


@pytest.fixture
def repo() -> Path:
    return REPO
