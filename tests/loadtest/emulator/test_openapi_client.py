"""A client generated from ``/openapi.json`` by ``openapi-python-client`` (its CLI, into a
temporary folder) calls the emulator and parses its answers into the generated models."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from loadtest.emulator.openapi import build_openapi
from loadtest.providers import deftship, hypertrack, nash
from tests.loadtest.emulator.helpers import (
    KEY,
    TestClient,
    bearer,
    ht_auth,
    make_client,
    onfleet_auth,
    seed,
)

PKG = "fleetsim_emulator_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    root = tmp_path_factory.mktemp("oapi_client")
    doc = root / "openapi.json"
    with make_client() as c:
        doc.write_text(json.dumps(c.get("/openapi.json").json()))
    exe = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    assert exe is not None
    proc = subprocess.run(
        [exe, "generate", "--path", str(doc), "--meta", "none", "--output-path", str(root / PKG)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Every operation of the document became a client function (none skipped).
    assert "Endpoint will not be generated" not in proc.stdout + proc.stderr
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PKG)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == PKG or m.startswith(PKG + ".")]:
            del sys.modules[name]


def _api(name: str) -> Any:
    return importlib.import_module(f"{PKG}.{name}")


def _client(http: TestClient, headers: dict[str, str]) -> Any:
    client = _api("client").Client(base_url="http://testserver")
    http.headers.update(headers)
    return client.set_httpx_client(http)


def test_every_operation_is_generated(generated: ModuleType) -> None:
    doc = build_openapi()
    n_ops = sum(len(ops) for ops in doc["paths"].values())
    n_funcs = sum(
        1
        for p in Path(generated.__file__ or "").parent.joinpath("api").rglob("*.py")
        if p.stem != "__init__"
    )
    assert n_funcs == n_ops


def test_generated_client_parses_onfleet_creates_and_gets(generated: ModuleType) -> None:
    models = _api("models")
    with make_client() as http:
        c = _client(http, onfleet_auth())
        team = _api("api.onfleet.post_api_v2_teams").sync_detailed(
            client=c, body=models.TeamCreate.from_dict({"name": "Night shift"})
        )
        assert team.status_code == 200 and isinstance(team.parsed, models.OnfleetTeamOut)
        worker = _api("api.onfleet.post_api_v2_workers").sync_detailed(
            client=c,
            body=models.WorkerCreate.from_dict(
                {"name": "Ana", "phone": "+14155550100", "teams": [team.parsed.id]}
            ),
        )
        assert isinstance(worker.parsed, models.OnfleetWorkerOut)
        assert worker.parsed.teams == [team.parsed.id]
        body = models.TaskCreate.from_dict(seed("onfleet-create-task.json")["request"])
        task = _api("api.onfleet.post_api_v2_tasks").sync_detailed(client=c, body=body)
        assert isinstance(task.parsed, models.OnfleetTaskOut), task.content
        got = _api("api.onfleet.get_api_v_2_tasks_task_id").sync_detailed(task.parsed.id, client=c)
        assert isinstance(got.parsed, models.OnfleetTaskOut)
        assert got.parsed.short_id == task.parsed.short_id
        assert got.parsed.container.type_.value == "ORGANIZATION"
        missing = _api("api.onfleet.get_api_v_2_tasks_task_id").sync_detailed("nope", client=c)
        assert missing.status_code == 404 and isinstance(missing.parsed, models.OnfleetError)
        assert missing.parsed.message.error == 1402
        batch = _api("api.onfleet.post_api_v2_tasks_batch").sync_detailed(
            client=c, body=models.TaskBatch.from_dict({"tasks": [body.to_dict()] * 2})
        )
        assert isinstance(batch.parsed, models.OnfleetBatchResult)
        assert len(batch.parsed.tasks) == 2 and batch.parsed.errors == []


def test_generated_client_parses_nash_deftship_hypertrack(generated: ModuleType) -> None:
    models = _api("models")
    p = nash.package_body((37.77, -122.41), (37.79, -122.40))
    with make_client() as http:
        c = _client(http, bearer())
        job = _api("api.nash.post_v1_batch_job").sync_detailed(
            client=c, body=models.BatchJobCreate.from_dict(nash.batch_job_body([p, p]))
        )
        assert isinstance(job.parsed, models.NashJobOut), job.content
        again = _api("api.nash.get_v_1_jobs_job_id").sync_detailed(job.parsed.id, client=c)
        assert isinstance(again.parsed, models.NashJobOut) and again.parsed.id == job.parsed.id
        to = deftship.address("Ana", "1 Main St", "SF", "94103", "CA")
        made = _api("api.deftship.post_api_batches").sync_detailed(
            client=c,
            body=models.BatchCreate.from_dict(deftship.batch_body([deftship.shipment_body(to)])),
        )
        assert isinstance(made.parsed, models.DeftshipAnswer), made.content
        got = _api("api.deftship.get_api_batches_batch_id").sync_detailed(
            made.parsed.data.id, client=c
        )
        assert isinstance(got.parsed, models.DeftshipAnswer)
        http.headers.update(ht_auth(KEY))
        order = hypertrack.order_body("o-1", 37.77, -122.41)
        route = _api("api.hypertrack.post_orders_track").sync_detailed(
            client=c,
            body=models.TrackRequest.from_dict(hypertrack.track_body("ana", [order])),
        )
        assert isinstance(route.parsed, models.HyperTrackRouteOut), route.content
        one = _api("api.hypertrack.get_orders_handle").sync_detailed("o-1", client=c)
        assert isinstance(one.parsed, models.HyperTrackOrderOut)
        assert one.parsed.order_handle == "o-1"
