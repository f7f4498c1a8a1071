"""Every node-onfleet method of Admins, Administrators, Containers, Hubs, Organization,
Teams and Workers against a real emulator (node/fleet.mjs makes the calls; this checks
what the SDK handed back)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def test_node_onfleet_fleet_methods(node_sdk: Callable[..., Any]) -> None:
    out = node_sdk("fleet.mjs", timeout_s=120.0)
    org = out["org"]
    assert len(org["id"]) == 24 and org["name"] and org["byId"] == org["id"]

    admin = out["admin"]
    assert admin["created"] == "nia@example.com" and admin["listed"] is True
    assert admin["updated"] == "Nia B" and admin["matched"] == [admin["id"]]
    # The duplicate was refused.  node-onfleet 1.4 cannot build its own HttpError (see
    # fleet.mjs), so the subcode (1004) reaches the caller only from a fixed SDK.
    assert admin["duplicate"] in (1004, "sdk-TypeError")
    assert admin["deleted"] == 200 and admin["afterDelete"] is False

    teams, workers = out["teams"], out["workers"]
    a, b, w1, w2 = workers["a"], workers["b"], workers["w1"], workers["w2"]
    assert teams["listed"] is True and teams["one"] == "Node North"
    assert teams["updated"] == "Node North-East"
    assert teams["inserted"] == [a, b] and teams["tasks"] == [a, b]
    assert teams["etaWorker"] == w1 and teams["etaSteps"] == 1
    assert len(teams["dispatchId"]) == 24 and sorted(teams["assigned"]) == sorted([a, b])
    assert teams["deleted"] == 200

    assert w1 in workers["listed"] and workers["one"] == "Ola"
    assert workers["filtered"] == [{"id": w1, "phone": workers["filtered"][0]["phone"]}]
    assert workers["oneFiltered"] == {"name": "Ola"}
    assert workers["states"] == [w1, w2]
    assert workers["updated"] == ["Per Updated", 4]
    assert workers["matched"] == [w2] and workers["near"] == [w1]
    # Dispatch gave w1 task a; c was appended after it.
    assert workers["inserted"][0] == a and len(workers["inserted"]) == 2
    assert workers["tasks"] == workers["inserted"] and workers["pickups"] == [a]
    assert workers["scheduleSet"] == workers["scheduleSent"] == workers["scheduleGot"]
    assert workers["badPhone"] in (1010, "sdk-TypeError")
    assert workers["deleted"] == 200 and workers["afterDelete"] is False

    hubs = out["hubs"]
    assert hubs["listed"] is True and hubs["updated"] == "Node Depot 2"
    assert hubs["teamHub"] == hubs["id"] and len(hubs["created"]) == 1
    assert out["manifest"] == {"tasks": workers["tasks"], "driver": "Ola"}

    box = out["containers"]
    assert box["orgInserted"] == box["d"] == box["org"]
    assert box["worker"] == workers["tasks"] and box["team"] == "TEAM"
