"""The local backend's fleet: the simulated hub kept in a 0600 state file that every call (every activity
process) reads and writes under a lock, and ``model-factory fleet`` reading it."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import yaml

from cli.main import main
from factory.adapters.local.fleet_store import LocalFleet
from factory.rollout.fleet import LABEL_MODEL, LABEL_VERSION, LayeredDeployment, layered_content

IMAGE = "r/nyc-taxi@sha256:" + "c" * 64
MODELS = Path(__file__).resolve().parents[2] / "models"


def models_with_rollout(tmp_path: Path) -> Path:
    """A models folder whose nyc_taxi declares rings canary (buckets 0-9) and all."""
    folder = tmp_path / "models" / "nyc_taxi"
    shutil.copytree(MODELS / "nyc_taxi", folder, ignore=shutil.ignore_patterns("__pycache__"))
    raw = yaml.safe_load((folder / "model.yaml").read_text())
    raw["rollout"] = {"fleet": "tags.site = 'a'", "rings": [{"name": "canary", "percent": 10},
                                                          {"name": "all", "percent": 100}]}
    (folder / "model.yaml").write_text(yaml.safe_dump(raw))
    return folder.parent


def test_two_handles_share_one_hub_and_a_device_reports_only_what_its_runtime_wrote(tmp_path):
    path = tmp_path / "fleet" / "fleet.json"
    writer, reader = LocalFleet(path), LocalFleet(path)
    writer.register("edge-1", "arm64", {"site": "a"})
    writer.register("edge-2", "amd64", {"site": "a"})
    writer.create_deployment(LayeredDeployment("mf-nyc-taxi-v3-all", "tags.site = 'a'", 1,
                                               layered_content("nyc_taxi", "nyc-taxi", "3", IMAGE, "run-3"),
                                               {LABEL_MODEL: "nyc_taxi", LABEL_VERSION: "3"}))
    assert [d.id for d in reader.deployments("nyc_taxi")] == ["mf-nyc-taxi-v3-all"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    reports = {r.device: r for r in reader.device_reports("tags.site = 'a'", "nyc-taxi")}
    assert reports["edge-1"].version == "" and reports["edge-1"].module_status == ""  # nobody runs it yet
    assert reader.desired("edge-1")["$edgeAgent"]["modules"]["nyc-taxi"]["settings"]["image"] == IMAGE
    writer.report("edge-1", "nyc-taxi", {"factory": {"version": "3", "health": "ok",
                                                     "signals": {"3": {"requests": 5, "p95_ms": 2.0}}}})
    writer.report("edge-1", "$edgeAgent", {"modules": {"nyc-taxi": {"runtimeStatus": "running"}}})
    edge1 = next(r for r in reader.device_reports("*", "nyc-taxi") if r.device == "edge-1")
    assert (edge1.version, edge1.module_status, edge1.signals["3"].requests) == ("3", "running", 5)
    assert reader.deployment_metrics("mf-nyc-taxi-v3-all")["reportedSuccessfulCount"] == 1


def test_model_factory_fleet_prints_every_device_as_a_table_or_json(tmp_path, capsys):
    fleet = LocalFleet(tmp_path / "fleet" / "fleet.json")
    assert main(["fleet", "--state-dir", str(tmp_path)]) == 0
    assert "no devices" in capsys.readouterr().out
    fleet.register("edge-1", "arm64", {"site": "a", "factoryRolloutBucket": 7})
    fleet.create_deployment(LayeredDeployment("v3", "*", 1, layered_content("nyc_taxi", "nyc-taxi", "3", IMAGE, "r"),
                                              {LABEL_MODEL: "nyc_taxi", LABEL_VERSION: "3"}))
    fleet.report("edge-1", "nyc-taxi", {"factory": {"version": "2", "health": "ok"}})
    assert main(["fleet", "--state-dir", str(tmp_path), "--models-dir", str(models_with_rollout(tmp_path)),
                 "--json"]) == 0
    [device] = json.loads(capsys.readouterr().out)
    assert device["bucket"] == 7 and device["last_report"].startswith("20") and device["modules"] == [
        {"module": "nyc-taxi", "model": "nyc_taxi", "desired": "3", "reported": "2", "status": "", "health": "ok",
         "ring": "canary"}]
    assert main(["fleet", "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "edge-1" in out and "arm64" in out and "nyc-taxi" in out


def test_the_inventory_keeps_each_devices_last_report_across_handles(tmp_path):
    path = tmp_path / "fleet" / "fleet.json"
    writer = LocalFleet(path)
    writer.register("edge-1", "amd64", {"site": "a"})
    writer.register("edge-2", "arm64", {"site": "a"})
    writer.create_deployment(LayeredDeployment("v3", "*", 1, layered_content("nyc_taxi", "nyc-taxi", "3", IMAGE, "r"),
                                               {LABEL_MODEL: "nyc_taxi", LABEL_VERSION: "3"}))
    writer.report("edge-1", "nyc-taxi", {"factory": {"version": "3", "health": "ok"}})
    devices = {d.device: d for d in LocalFleet(path).inventory()}  # a second handle reads what the first wrote
    assert devices["edge-1"].last_report.startswith("20") and devices["edge-2"].last_report == ""
    [module] = devices["edge-1"].modules
    assert (module.model, module.desired, module.reported, module.health) == ("nyc_taxi", "3", "3", "ok")
    assert devices["edge-2"].modules[0].reported == ""  # desired but nothing reported yet


def test_history_logs_each_configuration_created_or_deleted_once_and_no_idempotent_repeat(tmp_path):
    path = tmp_path / "fleet" / "fleet.json"
    deployment = LayeredDeployment("mf-nyc-taxi-v3-all", "tags.site = 'a'", 1,
                                   layered_content("nyc_taxi", "nyc-taxi", "3", IMAGE, "run-3"),
                                   {LABEL_MODEL: "nyc_taxi", LABEL_VERSION: "3"})
    for _ in range(2):  # a retried create and delete: the second of each changes nothing
        LocalFleet(path).create_deployment(deployment)
    for _ in range(2):
        LocalFleet(path).delete_deployment(deployment.id)
    LocalFleet(path).create_deployment(deployment)  # created again after a delete: logged again
    assert LocalFleet(path).history() == [("created", deployment.id), ("deleted", deployment.id),
                                          ("created", deployment.id)]
