"""The OpenAPI document covers every emulated route (so the fuzz test reaches them all)."""

from __future__ import annotations

import re

from starlette.routing import Route

from loadtest.emulator.app import create_app
from loadtest.emulator.config import EmulatorConfig
from tests.loadtest.emulator.helpers import make_client

INFRA = {"/", "/healthz", "/openapi.json", "/metrics", "/docs", "/docs/{name}"}


def test_every_route_is_documented_and_nothing_else() -> None:
    app = create_app(EmulatorConfig())
    served = set()
    for r in app.routes:
        assert isinstance(r, Route)
        if r.path in INFRA:
            continue
        for m in r.methods or ():
            if m != "HEAD":
                served.add((m.lower(), re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", r.path)))
    with make_client() as client:
        doc = client.get("/openapi.json").json()
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == served
    for ops in doc["paths"].values():
        for op in ops.values():
            assert op["security"] and op["operationId"]
            if "requestBody" in op:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                assert ref.split("/")[-1] in doc["components"]["schemas"]
