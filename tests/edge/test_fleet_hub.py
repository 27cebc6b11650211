"""The local fleet's pure parts: the device split of ``up --fleet``, the devices file the hub trusts, the manifest
it makes of a device's merged layers, the sample request it hands out, the reporter's reading of ``/signals``,
and ``LocalFleet.update``."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from contract import RingVerdict, RolloutResult, RolloutStatus, RunSummary
from factory.adapters.local.fleet_store import LocalFleet
from factory.edge.manifest import validate_manifest
from factory.rollout.fleet import (
    LABEL_MODEL,
    LABEL_RING,
    LABEL_VERSION,
    REPORTER_SUFFIX,
    LayeredDeployment,
    layered_content,
)
from localstack.fleet_hub import FleetDevice, manifest, sample_request
from localstack.stack import fleet_devices

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "127.0.0.1:5200/models/wine-cultivar@sha256:" + "2" * 64
REPORTER = "127.0.0.1:5200/model-factory/fleet-reporter@sha256:" + "3" * 64


def _reporter_module():
    spec = importlib.util.spec_from_file_location("reporter", ROOT / "edge" / "fleet_reporter" / "reporter.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fleet_of_four_is_three_amd64_and_one_arm64_on_distinct_ports():
    devices = fleet_devices(4)
    assert [(d.id, d.arch) for d in devices] == [("fleet-amd64-1", "amd64"), ("fleet-amd64-2", "amd64"),
                                                 ("fleet-amd64-3", "amd64"), ("fleet-arm64-1", "arm64")]
    assert len({d.port for d in devices}) == 4
    assert [d.arch for d in fleet_devices(2, arm64=0)] == ["amd64", "amd64"]
    assert [d.arch for d in fleet_devices(1)] == ["amd64"]
    with pytest.raises(ValueError, match="cannot have 3 arm64"):
        fleet_devices(2, arm64=3)


@pytest.mark.parametrize("raw", [{"id": "a", "arch": "amd64", "url": "http://10.0.0.1:80"},
                                 {"id": "a b", "arch": "amd64", "url": "http://127.0.0.1:80"},
                                 {"id": "a", "arch": "riscv", "url": "http://127.0.0.1:80"}, ["a"]])
def test_devices_file_entries_off_loopback_or_malformed_are_refused(raw):
    with pytest.raises(ValueError, match="bad fleet device"):
        FleetDevice.parse(raw)


def _desired(tmp_path: Path, version: str = "2") -> dict:
    fleet = LocalFleet(tmp_path / "fleet.json")
    fleet.register("dev-1", "amd64", {"site": "local"})
    fleet.create_deployment(LayeredDeployment(
        "mf-wine-cultivar-v2-all", "tags.site = 'local'", 1,
        layered_content("wine_cultivar", "wine-cultivar", version, IMAGE, "run-2"),
        {LABEL_MODEL: "wine_cultivar", LABEL_VERSION: version, LABEL_RING: "all"}))
    return fleet.merged("dev-1")


def test_manifest_of_the_merged_layers_runs_the_model_and_its_reporter_with_the_traffic(tmp_path):
    traffic = {"wine_cultivar": {"request": {"data": [1]}, "per_second": 1.0}}
    content = manifest(_desired(tmp_path), REPORTER, traffic)
    validate_manifest({"modulesContent": content})
    modules = content["$edgeAgent"]["properties.desired"]["modules"]
    assert sorted(modules) == ["wine-cultivar", "wine-cultivar" + REPORTER_SUFFIX]
    assert modules["wine-cultivar"]["settings"]["image"] == IMAGE
    assert modules["wine-cultivar"]["env"]["MODEL_VERSION"] == {"value": "2"}
    reporter = content["wine-cultivar" + REPORTER_SUFFIX]["properties.desired"]
    assert reporter["factory"]["version"] == "2" and reporter["traffic"] == traffic["wine_cultivar"]
    assert manifest({}, REPORTER, traffic) == {}  # no layer targets the device: nothing runs


def test_sample_request_is_the_models_own_file_and_nothing_else(tmp_path):
    assert sample_request(ROOT / "models", "wine_cultivar") == json.loads(
        (ROOT / "models" / "wine_cultivar" / "model" / "sample-request.json").read_text())
    assert sample_request(ROOT / "models", "../wine_cultivar") is None
    assert sample_request(ROOT / "models", "no_such_model") is None
    big = tmp_path / "big" / "model"
    big.mkdir(parents=True)
    (big / "sample-request.json").write_text(json.dumps({"data": ["x" * 70_000]}))
    assert sample_request(tmp_path, "big") is None


def test_reporter_reports_only_a_signals_answer_of_the_expected_shape():
    measured = _reporter_module().measured
    snapshot = {"version": "2", "requests": 10, "errors": 1, "refused": 0, "p50_ms": 1.5, "p95_ms": 3.0,
                "histogram": {"class_0": 7, "class_1": 3}}
    assert measured(snapshot) == {"version": "2", "health": "ok", "signals": {"2": {
        "requests": 10, "errors": 1, "p50_ms": 1.5, "p95_ms": 3.0, "histogram": {"class_0": 7, "class_1": 3}}}}
    assert measured({**snapshot, "version": ""}) is None
    assert measured({**snapshot, "requests": "10"}) is None
    assert measured(["not", "a", "snapshot"]) is None


def test_update_replaces_edge_agents_view_and_merges_the_module_reports(tmp_path):
    fleet = LocalFleet(tmp_path / "fleet.json")
    fleet.register("dev-1", "amd64", {"site": "local"})
    first = {"$edgeAgent": {"modules": {"a": {"runtimeStatus": "running"}}},
             "a": {"factory": {"version": "1", "signals": {"1": {"requests": 5}}}}}
    fleet.update("dev-1", True, first, replace=("$edgeAgent",))
    fleet.update("dev-1", True, {"$edgeAgent": {"modules": {"b": {"runtimeStatus": "running"}}},
                                 "a": {"factory": {"version": "2", "signals": {"2": {"requests": 1}}}}},
                 replace=("$edgeAgent",))
    report = fleet.device_reports("tags.site = 'local'", "a")[0]
    assert report.module_status == "" and report.version == "2"  # module a no longer runs; its signals stay
    assert sorted(report.signals) == ["1", "2"]
    fleet.update("dev-1", False, {})
    assert not fleet.device_reports("tags.site = 'local'", "a")[0].connected


def test_make_run_table_shows_the_rollout_per_model():
    from cli.commands.stack import _rollout

    done = RolloutResult("r", "m", "2", RolloutStatus.COMPLETED, rings=[
        RingVerdict("canary", True, targeted=2, applied=2), RingVerdict("all", True, targeted=2, applied=1)])
    assert _rollout(RunSummary("r")) == ""
    row = _rollout(RunSummary.from_dict({"run_id": "r", "lineage": {"rollout": done.to_dict()}}))
    assert row == "Completed: canary 2/2, all 1/2"


def test_up_with_a_fleet_starts_the_hub_before_devhost_and_gives_devhost_the_hubs_reporter(tmp_path):
    from localstack.stack import LocalStack

    stack = LocalStack(tmp_path / "state", fleet=fleet_devices(2))
    names = [s.name for s in stack.services()]
    assert names.index("fleet-hub") < names.index("devhost")
    assert "FACTORY_FLEET_REPORTER_IMAGE" not in stack.settings_env()  # the hub has not started yet
    (stack.state_dir / "fleet").mkdir(parents=True)
    (stack.state_dir / "fleet" / "hub.json").write_text(json.dumps({"reporter": REPORTER, "devices": 2, "pid": 1}))
    assert stack.settings_env()["FACTORY_FLEET_REPORTER_IMAGE"] == REPORTER
    assert "FACTORY_FLEET_REPORTER_IMAGE" not in LocalStack(tmp_path / "state", fleet=[]).settings_env()
