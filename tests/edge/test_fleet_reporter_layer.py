"""The fleet reporter in the rollout's layered deployment (setting ``FACTORY_FLEET_REPORTER_IMAGE``): the layer
with and without it, a tag-only reporter refused, the local fleet hub not doubling it, and the IoT Hub adapter
reading the model's report from the reporter's twin through the real ``azure-iot-hub`` SDK (offline)."""

from __future__ import annotations

from typing import Any

import pytest

from contract import RolloutRequest, RolloutResult, RolloutStatus
from factory.adapters.local.fleet import SimulatedFleet
from factory.adapters.local.fleet_runtime import SimulatedRuntime
from factory.adapters.local.fleet_store import LocalFleet
from factory.edge.manifest import validate_manifest
from factory.rollout.fleet import (
    LABEL_MODEL,
    LABEL_RING,
    LABEL_VERSION,
    REPORTER_SUFFIX,
    FleetError,
    LayeredDeployment,
    layered_content,
    reporter_module,
)
from factory.rollout.service import RolloutService
from factory.settings import Settings
from function_app.rollout import handlers
from localstack.fleet_hub import manifest
from orchestrations.fleet_rollout import fleet_rollout

from .replay import run_orchestrator
from .test_iothub_fleet import MODEL, MODULE, SPEC, IotHubRest, ReporterRuntime, adapter, signals

IMAGE = "127.0.0.1:5200/models/wine-cultivar@sha256:" + "2" * 64
REPORTER = "127.0.0.1:5200/model-factory/fleet-reporter@sha256:" + "3" * 64
HUB_REPORTER = "127.0.0.1:5200/model-factory/fleet-reporter@sha256:" + "4" * 64
AZ_IMAGE = "r.azurecr.io/models/nyc-taxi@sha256:" + "b" * 64
AZ_REPORTER = "r.azurecr.io/factory-fleet-reporter@sha256:" + "c" * 64
WINE = "wine-cultivar"


def test_the_layer_holds_the_model_module_only_without_a_reporter_image():
    content = layered_content("wine_cultivar", WINE, "2", IMAGE, "run-2")
    assert list(content["$edgeAgent"]) == [f"properties.desired.modules.{WINE}"]
    assert sorted(content) == ["$edgeAgent", WINE]


def test_the_layer_carries_the_reporter_pinned_by_digest_with_its_own_desired_factory_section():
    content = layered_content("wine_cultivar", WINE, "2", IMAGE, "run-2", REPORTER)
    agent = content["$edgeAgent"]
    reporter = agent[f"properties.desired.modules.{WINE}{REPORTER_SUFFIX}"]
    assert reporter == reporter_module(WINE, REPORTER)
    assert reporter["settings"]["image"] == REPORTER
    assert reporter["env"] == {"MODEL_MODULE": {"value": WINE}, "MODEL_PORT": {"value": "5001"}}
    assert reporter["settings"]["createOptions"] == '{"HostConfig":{"Memory":67108864}}'
    assert content[WINE + REPORTER_SUFFIX] == {
        "properties.desired.factory": {"model": "wine_cultivar", "version": "2", "runId": "run-2"}}
    # the same spec in every version: a new version's layer changes the reporter's desired section only
    later = layered_content("wine_cultivar", WINE, "3", IMAGE, "run-3", REPORTER)
    assert later["$edgeAgent"][f"properties.desired.modules.{WINE}{REPORTER_SUFFIX}"] == reporter


@pytest.mark.parametrize("reporter", ["127.0.0.1:5200/model-factory/fleet-reporter:1",
                                      "127.0.0.1:5200/model-factory/fleet-reporter@sha256:abc"])
def test_a_reporter_image_not_pinned_by_digest_is_refused_naming_the_setting(reporter):
    with pytest.raises(FleetError, match="setting FACTORY_FLEET_REPORTER_IMAGE: the fleet reporter image must be "
                                         "pinned by digest"):
        layered_content("wine_cultivar", WINE, "2", IMAGE, "run-2", reporter)


def test_a_rollout_with_a_tag_only_reporter_is_refused_before_any_device_is_touched():
    sim = SimulatedFleet(SimulatedRuntime(MODULE, lambda *_: pytest.fail("no device may be targeted")))
    sim.add_device("truck-00", "amd64", {"site": "plant-a"})
    service = RolloutService(sim, lambda _m: SPEC, reporter_image="r.azurecr.io/factory-fleet-reporter:1")
    plan = service.plan(RolloutRequest("run-5", MODEL, "5", AZ_IMAGE))
    assert "setting FACTORY_FLEET_REPORTER_IMAGE" in plan.refused and "factory-fleet-reporter:1" in plan.refused
    assert plan.rings == [] and sim.configurations == {}
    assert "bucket" not in str(sim.devices["truck-00"].tags) and sim.operations["update_twin"] == 0  # no tag


def test_the_reporter_signature_check_refuses_the_rollout_and_names_the_reporter():
    checked: list[str] = []

    def check(image: str) -> str:
        checked.append(image)
        return "no signature by the factory's key" if image == AZ_REPORTER else ""

    sim = SimulatedFleet(SimulatedRuntime(MODULE, lambda *_: pytest.fail("no device may be targeted")))
    sim.add_device("truck-00", "amd64", {"site": "plant-a"})
    service = RolloutService(sim, lambda _m: SPEC, image_check=check, reporter_image=AZ_REPORTER)
    plan = service.plan(RolloutRequest("run-5", MODEL, "5", AZ_IMAGE))
    assert checked == [AZ_IMAGE, AZ_REPORTER]
    assert plan.refused == (f"not rolling out {AZ_IMAGE}: its fleet reporter {AZ_REPORTER}: "
                            "no signature by the factory's key")
    assert sim.configurations == {}


def test_the_setting_reaches_the_plan_and_every_ring_applies_the_reporter_the_plan_named():
    settings = Settings.from_env({"FACTORY_FLEET_REPORTER_IMAGE": AZ_REPORTER})
    assert settings.fleet_reporter_image == AZ_REPORTER
    sim = SimulatedFleet(SimulatedRuntime(MODULE, lambda *_: signals(10.0)))
    sim.add_device("truck-00", "amd64", {"site": "plant-a"})
    service = RolloutService(sim, lambda _m: SPEC, reporter_image=settings.fleet_reporter_image)
    plan = service.plan(RolloutRequest("run-5", MODEL, "5", AZ_IMAGE))
    assert plan.refused == "" and plan.reporter_image == AZ_REPORTER
    service.reporter_image = ""  # the setting changed mid-rollout: the rings keep the plan's reporter
    from contract import RingStep

    service.apply_ring(RingStep(plan, 0))
    content = sim.configurations[plan.rings[0].configuration_id][1].modules_content
    assert content["$edgeAgent"][f"properties.desired.modules.{MODULE}{REPORTER_SUFFIX}"]["settings"]["image"] \
        == AZ_REPORTER


def _merged(tmp_path, reporter: str = "") -> dict[str, dict[str, Any]]:
    fleet = LocalFleet(tmp_path / "fleet.json")
    fleet.register("dev-1", "amd64", {"site": "local"})
    fleet.create_deployment(LayeredDeployment(
        "mf-wine-cultivar-v2-all", "tags.site = 'local'", 1,
        layered_content("wine_cultivar", WINE, "2", IMAGE, "run-2", reporter),
        {LABEL_MODEL: "wine_cultivar", LABEL_VERSION: "2", LABEL_RING: "all"}))
    return fleet.merged("dev-1")


def test_the_hub_runs_the_layers_reporter_and_adds_none_of_its_own(tmp_path):
    traffic = {"wine_cultivar": {"request": {"data": [1]}, "per_second": 1.0}}
    content = manifest(_merged(tmp_path, REPORTER), HUB_REPORTER, traffic)
    validate_manifest({"modulesContent": content})  # the published IoT Edge deployment schema and IoT Hub's limits
    modules = content["$edgeAgent"]["properties.desired"]["modules"]
    assert sorted(modules) == [WINE, WINE + REPORTER_SUFFIX]  # one reporter, not a reporter of the reporter
    assert modules[WINE + REPORTER_SUFFIX] == reporter_module(WINE, REPORTER)  # the layer's, not the hub's image
    assert modules[WINE]["startupOrder"] == 1
    desired = content[WINE + REPORTER_SUFFIX]["properties.desired"]
    assert desired == {"factory": {"model": "wine_cultivar", "version": "2", "runId": "run-2"},
                       "traffic": traffic["wine_cultivar"]}
    assert sorted(content) == ["$edgeAgent", "$edgeHub", WINE, WINE + REPORTER_SUFFIX]


def test_the_hub_still_adds_the_reporter_to_a_layer_without_one_in_the_same_shape(tmp_path):
    with_own = manifest(_merged(tmp_path / "a", REPORTER), HUB_REPORTER, {})
    added = manifest(_merged(tmp_path / "b"), REPORTER, {})
    validate_manifest({"modulesContent": added})
    assert added == with_own  # a layer without a reporter runs the same modules once the hub adds it


def test_on_iot_hub_the_rollout_reads_the_signals_from_the_reporters_twin():
    sim = SimulatedFleet(ReporterRuntime(MODULE, lambda device, arch, version: signals(10.0)))
    for i in range(12):
        sim.add_device(f"truck-{i:02d}", "arm64" if i % 3 == 0 else "amd64", {"site": "plant-a"})
    rest = IotHubRest(sim)
    service = RolloutService(adapter(rest), lambda model: SPEC, reporter_image=AZ_REPORTER)
    result = run_orchestrator(fleet_rollout, {"run_id": "run-5", "model": MODEL, "version": "5",
                                              "image": AZ_IMAGE}, handlers(service))
    ended = RolloutResult.from_dict(result.output)
    assert ended.status == RolloutStatus.COMPLETED, ended.reason
    assert all(MODULE not in d.reported and d.reported[MODULE + REPORTER_SUFFIX]["factory"]["version"] == "5"
               for d in sim.devices.values())  # nothing in the model module's own twin
    puts = [body for method, _path, body in rest.sent if method == "PUT"]
    assert len(puts) == 2 and all(
        body["content"]["modulesContent"]["$edgeAgent"][f"properties.desired.modules.{MODULE}{REPORTER_SUFFIX}"]
        ["settings"]["image"] == AZ_REPORTER for body in puts)
    queries = [body["query"] for method, _, body in rest.sent if method == "POST"]
    assert any(f"moduleId IN ['$edgeAgent', '{MODULE}{REPORTER_SUFFIX}']" in q for q in queries)
    reports = adapter(IotHubRest(sim)).device_reports("tags.site = 'plant-a'", MODULE)
    assert len(reports) == 12 and {r.version for r in reports} == {"5"}
    assert all(r.signals["5"].requests == 50 and r.module_status == "running" for r in reports)
    assert adapter(IotHubRest(sim)).deployment_metrics("mf-nyc-taxi-v5-all")["reportingVersion"] == 12
    inventory = adapter(IotHubRest(sim)).inventory()  # one row per model module: the reporter is its model's
    assert {tuple((m.module, m.reported) for m in d.modules) for d in inventory} == {((MODULE, "5"),)}


def test_the_longest_module_name_still_has_a_reporter_within_iot_hubs_module_id_limit():
    module = "m" * 63  # module_name's longest
    content = layered_content("m", module, "2", IMAGE, "run-2", REPORTER)
    assert f"properties.desired.modules.{module}{REPORTER_SUFFIX}" in content["$edgeAgent"]
    with pytest.raises(FleetError, match="at most 128"):
        layered_content("m", "m" * 120, "2", IMAGE, "run-2", REPORTER)
