"""What people see of the fleet, rendered from a real simulated hub through the real code path: the rollout
service plans and applies a ring on ``SimulatedFleet``, ``Fleet.inventory`` reads it back as typed records, and
the fleet page, the model page and the approval card show them."""

from __future__ import annotations

from dataclasses import replace

from contract import RingStep, RolloutRequest, VersionSignals
from factory.adapters.local.fleet import SimulatedFleet
from factory.adapters.local.fleet_runtime import Outcome, SimulatedRuntime
from factory.approval import ApprovalClaim
from factory.card import build_card
from factory.history import ModelHistory
from factory.ports import ModelVersion
from factory.rollout.inventory import fleet_inventory, ring_of, ring_sizes, version_counts
from factory.rollout.service import RolloutService
from factory.rollout.spec import AbortBounds, Ring, RolloutSpec, bucket
from function_app import pages
from function_app.pages.html import CSP, Links

from .test_local_fleet import models_with_rollout
from .test_pages import HOSTILE, Elements, body, lineage

MODEL, MODULE = "nyc_taxi", "nyc-taxi"
IMAGE = "r/models/nyc-taxi@sha256:" + "e" * 64
SPEC = RolloutSpec("tags.site = 'plant-a'", (Ring("canary", 30), Ring("all", 100)), AbortBounds())
DEVICES = [f"edge-{i}" for i in range(8)]


def hub() -> SimulatedFleet:
    """Eight devices (two arm64) on plant-a and one elsewhere; version 4 applied to the canary ring only."""
    clock = iter(range(1_800_000_000, 1_800_100_000, 7))
    sim = SimulatedFleet(SimulatedRuntime(MODULE, lambda d, arch, v: Outcome(signals=VersionSignals(requests=3))),
                         clock=lambda: float(next(clock)))
    for i, device in enumerate(DEVICES):
        sim.add_device(device, "arm64" if i >= 6 else "amd64", {"site": "plant-a"})
    sim.add_device("elsewhere", "amd64", {"site": "plant-b"})
    service = RolloutService(sim, lambda model: SPEC if model == MODEL else None)
    plan = service.plan(RolloutRequest("run-4", MODEL, "4", IMAGE))
    service.apply_ring(RingStep(plan, 0))
    return sim


def test_the_fleet_page_shows_every_device_with_its_ring_versions_health_and_last_report():
    sim = hub()
    devices = fleet_inventory(sim, {MODEL: SPEC})
    canary = {d for d in DEVICES if bucket(d) < 30}
    assert canary and canary != set(DEVICES)  # the hash puts some devices in each ring
    by_id = {d.device: d for d in devices}
    assert set(by_id) == {*DEVICES, "elsewhere"}
    for device in DEVICES:
        d = by_id[device]
        assert d.bucket == bucket(device) and d.arch == ("arm64" if device in DEVICES[6:] else "amd64")
        if device in canary:
            [m] = d.modules
            assert (m.model, m.ring, m.desired, m.reported, m.status, m.health) == (
                MODEL, "canary", "4", "4", "running", "ok")
        else:
            assert d.modules == []  # nothing deployed there yet
        assert d.last_report.startswith("2027-01-15T")  # every connected device's edgeAgent reported
    assert by_id["elsewhere"].bucket == -1  # outside the model's fleet: never tagged
    resp = pages.fleet_page(devices, Links())
    doc = Elements(body(resp))
    rows = body(resp).split("<tbody>")[1].count("<tr>")
    assert rows == len(DEVICES) + 1  # one row per device (each runs at most one model module here)
    assert resp.headers["Content-Security-Policy"] == CSP
    assert any(t == "a" and a["href"] == "/api/dashboard/models/nyc_taxi" for t, a in doc.tags)
    assert "9 devices, 9 online." in body(resp) and "untagged" in body(resp)


def test_every_dashboard_page_links_the_fleet_page():
    nav = Elements(Links().nav())
    assert [a["href"] for t, a in nav.tags if t == "a"][-1] == "/api/dashboard/fleet"


def test_the_fleet_page_escapes_what_devices_report_and_caps_its_rows():
    sim = hub()
    target = next(d for d in DEVICES if bucket(d) < 30)
    sim.sync()
    sim.devices[target].reported[MODULE]["factory"]["health"] = HOSTILE
    sim.devices[target].tags["arch"] = HOSTILE
    page = body(pages.fleet_page(sim.inventory(), Links()))
    assert HOSTILE not in page and "<script" not in page and "&lt;script&gt;" in page
    many = sim.inventory() * 300
    capped = body(pages.fleet_page(many, Links()))
    assert f"showing {pages.fleet.MAX_ROWS} of {len(many)} devices" in capped
    assert "http-equiv='refresh'" not in capped  # a large fleet's page does not reload itself (query throttle)
    assert "http-equiv='refresh' content='60'" in body(pages.fleet_page(sim.inventory(), Links()))


def test_the_model_page_says_which_version_runs_on_how_many_devices():
    sim = hub()
    running = version_counts(sim.device_reports(SPEC.fleet, MODULE))
    canary = sum(1 for d in DEVICES if bucket(d) < 30)
    assert running == dict(sorted({"4": canary, "": len(DEVICES) - canary}.items(), key=lambda kv: -kv[1]))
    history = ModelHistory(MODEL, "rmse", [ModelVersion(MODEL, "3", {"rmse": 4.0}, {}),
                                           ModelVersion(MODEL, "4", {"rmse": 3.9}, {})], "4")
    page = body(pages.model_page(history, [], Links(), running))
    assert f"Devices: {len(DEVICES)} in the model's fleet" in page and f"version 4 on {canary}" in page
    row4 = next(r for r in page.split("<tr>") if r.startswith("<td>4</td>"))
    assert f"<td>{canary}</td>" in row4
    assert "no rollout declared" in body(pages.model_page(history, [], Links(), None))


def test_the_approval_card_gives_the_fleet_condition_and_devices_per_ring():
    sim = hub()
    sim.add_device("late", "amd64", {"site": "plant-a"})  # not tagged yet: counted in the bucket it will get
    sizes = ring_sizes(SPEC, sim.device_reports(SPEC.fleet, MODULE))
    everyone = [*DEVICES, "late"]
    assert [(s.name, s.devices) for s in sizes] == [
        ("canary", sum(1 for d in everyone if bucket(d) < 30)), ("all", sum(1 for d in everyone if bucket(d) >= 30))]
    card = replace(build_card("run-4", lineage()), fleet=SPEC.fleet, rings=sizes)
    page = body(pages.confirm(ApprovalClaim("run-4", "approve", "3", "d", 0), "", card))
    assert "tags.site = &#x27;plant-a&#x27;" in page and f"{len(everyone)} devices in the fleet now" in page
    rings = page.split("class='rings'")[1].split("</table>")[0]
    assert f"<td>canary</td><td>30 %</td><td>{sizes[0].devices}</td>" in rings
    plain = body(pages.confirm(ApprovalClaim("r", "approve", "3", "d", 0), "", build_card("r", lineage())))
    assert "No rollout declared" in plain
    unread = body(pages.confirm(ApprovalClaim("r", "approve", "3", "d", 0), "",
                                replace(build_card("r", lineage()), fleet=SPEC.fleet, rings=None)))
    assert "the fleet could not be read" in unread


def test_ring_of_an_untagged_device_is_empty():
    assert ring_of(SPEC, -1) == "" and ring_of(SPEC, 0) == "canary" and ring_of(SPEC, 99) == "all"


def _route(monkeypatch, tmp_path, cookie: str):
    """``GET /api/dashboard/fleet`` through its binding on the local backend, with the fleet in ``tmp_path``."""
    import asyncio

    import azure.functions as func

    from factory import backends, session
    from function_app import dashboard

    key = "k" * 48
    monkeypatch.setenv("FACTORY_STATE_DIR", str(tmp_path))
    models = tmp_path / "models"
    monkeypatch.setenv("FACTORY_MODELS_DIR", str(models if models.is_dir() else models_with_rollout(tmp_path)))
    monkeypatch.setenv("APPROVAL_SIGNING_KEY", key)
    backends.services.cache_clear()
    headers = {"cookie": f"{session.COOKIE}={session.new_token(key)}"} if cookie == "valid" else {}
    req = func.HttpRequest("GET", "http://127.0.0.1/api/dashboard/fleet", headers=headers, body=b"")
    try:
        answer = dashboard.dashboard_fleet._function.get_user_function()(req)
        return asyncio.run(answer) if asyncio.iscoroutine(answer) else answer
    finally:
        backends.services.cache_clear()


def test_the_fleet_route_reads_the_local_fleet_through_the_port_and_needs_a_session(monkeypatch, tmp_path):
    from factory.adapters.local.fleet_store import LocalFleet

    fleet = LocalFleet(tmp_path / "fleet" / "fleet.json")
    fleet.register("edge-1", "amd64", {"site": "a", "factoryRolloutBucket": 3})
    fleet.register("edge-2", "arm64", {"site": "a", "factoryRolloutBucket": 70})
    assert _route(monkeypatch, tmp_path, "none").status_code == 401
    resp = _route(monkeypatch, tmp_path, "valid")
    page = body(resp)
    assert resp.status_code == 200 and "2 devices, 2 online." in page and "edge-2" in page and "code=" not in page
    assert page.count("<td>canary</td>") == 0  # nothing deployed yet: no module, so no ring to show
    (tmp_path / "fleet" / "fleet.json").write_text("{not json")  # a broken hub file: the page says so, no 500
    broken = _route(monkeypatch, tmp_path, "valid")
    assert broken.status_code == 503 and "JSONDecodeError" in body(broken)


def test_assemble_card_counts_the_declared_fleets_devices_per_ring_through_the_port(monkeypatch, tmp_path):
    from factory import backends
    from factory.adapters.local.fleet_store import LocalFleet
    from factory.card import assemble_card

    from .test_pages import run

    fleet = LocalFleet(tmp_path / "fleet" / "fleet.json")
    for device, site in (("edge-1", "a"), ("edge-2", "a"), ("edge-3", "a"), ("other", "b")):
        fleet.register(device, "amd64", {"site": site})  # untagged: counted in the bucket the rollout gives them
    monkeypatch.setenv("FACTORY_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("FACTORY_MODELS_DIR", str(models_with_rollout(tmp_path)))
    backends.services.cache_clear()
    try:
        card = assemble_card(run(lineage=lineage(model="nyc_taxi", training_job="")), now=0.0)
    finally:
        backends.services.cache_clear()
    canary = sum(1 for d in ("edge-1", "edge-2", "edge-3") if bucket(d) < 10)
    assert card.fleet == "tags.site = 'a'" and card.rings is not None
    assert [(r.name, r.percent, r.devices) for r in card.rings] == [("canary", 10, canary), ("all", 100, 3 - canary)]
