"""Fuzzing every route of the emulator's OpenAPI document: no input yields a 5xx, and
every 4xx comes in the provider's own error shape."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from emu_helpers import KEY, bearer, ht_auth, onfleet_auth
from hypothesis import HealthCheck, settings

from loadtest.emulator.app import create_app
from loadtest.emulator.config import EmulatorConfig

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import schemathesis

APP = create_app(EmulatorConfig(api_keys=(KEY,)))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


def auth_for(path: str) -> dict[str, str]:
    if path.startswith("/api/v2") or path.startswith("/emulator"):
        return onfleet_auth()
    if path.startswith("/orders"):
        return ht_auth()
    return bearer()


def shape_ok(path: str, body: Any) -> bool:
    if path.startswith("/api/v2") or path.startswith("/emulator"):
        return set(body) == {"code", "message"} and isinstance(body["message"]["error"], int)
    if path.startswith("/v1"):
        return isinstance(body, list) and "error" in body[0] and "RequestID" in body[0]
    if path.startswith("/api/batches"):
        return body.get("success") is False and isinstance(body.get("message"), str)
    return set(body) == {"detail", "message"}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_no_5xx_and_provider_error_shapes(case: Any) -> None:
    response = case.call(headers=auth_for(case.path))
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    if response.status_code >= 400:
        assert shape_ok(case.path, response.json()), response.text
