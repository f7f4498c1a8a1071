"""Helpers for the simulator tests: tiny scenarios built in code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.scenario import Scenario, parse_scenario

REPO = Path(__file__).resolve().parents[2]


def make_scenario(**sections: dict[str, Any]) -> Scenario:
    """A small valid scenario; keyword arguments replace or extend its sections."""
    raw: dict[str, Any] = {
        "scenario": {"name": "t", "seed": 1, "duration_h": 0.5, "drain_h": 2.0},
        "region": {"center": [40.75, -73.98], "radius_m": 1500},
        "fleet": {"workers": 3, "shift_end_h": 3.0, "capacity": 10},
        "demand": {"rate_per_h": 30, "mix": {"dropoff": 1, "pickup_dropoff": 1}},
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    return parse_scenario(raw)
