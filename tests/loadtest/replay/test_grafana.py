"""The Grafana dashboard (``loadtest/grafana/fleetsim.json``) parses, and every metric it
names is exported: by the replay's ``/metrics`` or by the emulator's, both scraped here."""

from __future__ import annotations

import json
import re

import httpx
from prometheus_client.parser import text_string_to_metric_families

from loadtest.replay.metrics import MetricsServer
from loadtest.replay.progress import LiveTracker
from loadtest.replay.stats import Aggregate, Recorder
from tests.fixtures.scenarios import REPO

DASHBOARD = REPO / "loadtest" / "grafana" / "fleetsim.json"
#: Sample-name suffixes Prometheus adds to a family's name.
SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


def _exported(text: str) -> set[str]:
    """Every sample name and family name a /metrics text holds."""
    out = set()
    for fam in text_string_to_metric_families(text):
        out.add(fam.name)
        out.update(s.name for s in fam.samples)
    return out


def _replay_metrics() -> str:
    r = Recorder()
    r.request("POST /api/v2/tasks", 0.1, 12.0, 12.0, True)
    r.outcome("POST /api/v2/tasks", True)
    r.count("sent")
    r.lag(1.0, 0.1)
    agg = Aggregate()
    agg.merge(r.drain())
    server = MetricsServer(0)
    server.start()
    try:
        server.update(LiveTracker(1, 10.0).update(agg, 1.0))
        return httpx.get(f"http://127.0.0.1:{server.port}/metrics").text
    finally:
        server.close()


def test_the_dashboard_names_only_exported_metrics(emulator: str) -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["title"] and dash["panels"]
    exprs = [
        t["expr"] for p in dash["panels"] if p.get("type") != "row" for t in p.get("targets", ())
    ]
    assert exprs and all(isinstance(e, str) and e for e in exprs)
    named = {m for e in exprs for m in re.findall(r"\bfleetsim_[a-z0-9_]+", e)}
    assert any(m.startswith("fleetsim_replay_") for m in named)
    assert any(m.startswith("fleetsim_emulator_") for m in named)

    httpx.get(emulator + "/api/v2/auth/test")  # some traffic for the request counter
    emulated = _exported(httpx.get(emulator + "/metrics").text)
    replayed = _exported(_replay_metrics())
    exported = emulated | replayed
    missing = sorted(
        m
        for m in named
        if m not in exported and not any(m.removesuffix(s) in exported for s in SUFFIXES)
    )
    assert not missing, f"the dashboard names metrics nobody exports: {missing}"
    # Ids are unique and every panel has a place on the grid.
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert all({"h", "w", "x", "y"} <= set(p["gridPos"]) for p in dash["panels"])
