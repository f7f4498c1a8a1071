"""Helpers shared by the emulator tests (auth headers, seeds, an in-process client).

A real ``fleetsim emulate`` subprocess is :class:`loadtest.emulator.serve.EmulatorProcess`.
"""

from __future__ import annotations

import base64
import json
import warnings
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    # Starlette warns at import that its TestClient prefers httpx2; not ours to fix.
    warnings.filterwarnings("ignore", message="Using `httpx` with")
    from starlette.testclient import TestClient

from loadtest.emulator.app import create_app
from loadtest.emulator.config import EmulatorConfig

SEEDS = Path(__file__).parent / "seeds"
KEY = "test-key-123456789"


def onfleet_auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def bearer(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def ht_auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"acct-1:{key}".encode()).decode()}


def seed(name: str) -> Any:
    return json.loads((SEEDS / name).read_text())


def make_client(**overrides: Any) -> TestClient:
    cfg = EmulatorConfig(api_keys=(KEY,), **overrides)
    return TestClient(create_app(cfg), raise_server_exceptions=True)


def conforms(
    seed_obj: Any, actual: Any, path: str = "$", nullable: frozenset[str] = frozenset()
) -> list[str]:
    """Differences in keys and JSON types between a seed example and an answer."""
    problems: list[str] = []
    if seed_obj is None or (actual is None and path.rsplit(".", 1)[-1] in nullable):
        return problems

    def kind(v: Any) -> str:
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int | float):
            return "number"
        return type(v).__name__

    if kind(seed_obj) != kind(actual):
        return [f"{path}: seed {kind(seed_obj)}, got {kind(actual)}"]
    if isinstance(seed_obj, dict):
        for k, v in seed_obj.items():
            if k not in actual:
                problems.append(f"{path}.{k}: missing")
            else:
                problems += conforms(v, actual[k], f"{path}.{k}", nullable)
    elif isinstance(seed_obj, list) and seed_obj and actual:
        problems += conforms(seed_obj[0], actual[0], f"{path}[0]", nullable)
    return problems
