"""The IoT Hub ``Fleet`` adapter, offline: the real ``azure-iot-hub`` SDK sends its requests to a requests
adapter that serves IoT Hub's REST API (``/configurations``, ``/devices/query`` with paging, ``/twins``) over a
``SimulatedFleet``; the whole fleet_rollout orchestration runs through it."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import requests
import urllib3
from azure.core.credentials import AccessToken

from contract import RolloutResult, RolloutStatus, VersionSignals
from factory.adapters.azure.iothub import IotHubFleet, configuration_of
from factory.adapters.azure.iothub_mapping import deployment_of
from factory.adapters.local.fleet import SimulatedFleet, merge_patch
from factory.adapters.local.fleet_runtime import Outcome, SimulatedRuntime
from factory.adapters.local.iothub_query import compile_condition, where_clause
from factory.rollout.fleet import LABEL_MODEL, LABEL_VERSION, LayeredDeployment, layered_content
from factory.rollout.service import RolloutService
from factory.rollout.spec import BUCKET_TAG, AbortBounds, Ring, RolloutSpec
from function_app.rollout import handlers
from orchestrations.fleet_rollout import fleet_rollout

from .replay import run_orchestrator

HUB = "factory-hub.azure-devices.net"
MODEL, MODULE = "nyc_taxi", "nyc-taxi"
IMAGE = "r.azurecr.io/models/nyc-taxi@sha256:" + "b" * 64
SPEC = RolloutSpec("tags.site = 'plant-a'", (Ring("canary", 20, 1, 1), Ring("all", 100)), AbortBounds())


class IotHubRest(requests.adapters.BaseAdapter):
    """IoT Hub's REST API for configurations, twin queries and twin tag patches, on a ``SimulatedFleet``."""

    def __init__(self, fleet: SimulatedFleet, page: int = 7) -> None:
        super().__init__()
        self.fleet, self.page = fleet, page
        self.sent: list[tuple[str, str, dict | None]] = []
        self.continued = 0  # query requests that asked for a next page

    def _answer(self, request, status: int, body, headers: dict[str, str] | None = None):
        raw = urllib3.response.HTTPResponse(body=io.BytesIO(json.dumps(body).encode() if body is not None else b""),
                                            status=status, preload_content=False,
                                            headers={"Content-Type": "application/json", **(headers or {})})
        return requests.adapters.HTTPAdapter().build_response(request, raw)

    def _configuration(self, config_id: str) -> dict:
        _, deployment = self.fleet.configurations[config_id]
        body = configuration_of(deployment).serialize()
        metrics = self.fleet.deployment_metrics(config_id)
        system = {k: v for k, v in metrics.items() if k.endswith("Count")}
        body["systemMetrics"] = {"results": system, "queries": {}}
        body["metrics"] = {"results": {k: v for k, v in metrics.items() if k not in system},
                           "queries": dict(deployment.metrics)}
        body["etag"] = "MQ=="
        return body

    def _twins(self, collection: str, condition: str) -> list[dict]:
        self.fleet.sync()
        matches = compile_condition(condition)
        twins = []
        for device in self.fleet.devices.values():
            doc = {**device.doc(), "properties": {"desired": {}, "reported": {}},
                   "lastActivityTime": device.last_report or "0001-01-01T00:00:00Z"}
            if collection == "devices":
                twins.append(doc)
                continue
            for module in set(device.reported) | set(device.desired):
                twins.append({"deviceId": device.device_id, "moduleId": module, "properties": {
                    "desired": device.desired.get(module, {}), "reported": device.reported.get(module, {})}})
        return [t for t in twins if matches(t)]

    def send(self, request, **kwargs):
        path, _, _query = request.path_url.partition("?")
        body = json.loads(request.body) if request.body else None
        self.sent.append((request.method, path, body))
        assert request.headers["Authorization"] == "Bearer token"
        parts = path.strip("/").split("/")
        if parts == ["configurations"] and request.method == "GET":
            return self._answer(request, 200, [self._configuration(c) for c in self.fleet.configurations])
        if parts[0] == "configurations" and len(parts) == 2:
            config_id = parts[1]
            if request.method == "PUT":
                if config_id in self.fleet.configurations:
                    return self._answer(request, 409, {"Message": "ConfigurationAlreadyExists"})
                self.fleet.create_deployment(deployment_of(_deserialize_configuration(body)))
                return self._answer(request, 201, self._configuration(config_id))
            if request.method == "DELETE":
                if config_id not in self.fleet.configurations:
                    return self._answer(request, 404, {"Message": "ConfigurationNotFound"})
                self.fleet.delete_deployment(config_id)
                return self._answer(request, 204, None)
            if request.method == "GET":
                return self._answer(request, 200, self._configuration(config_id))
        if parts == ["devices", "query"] and request.method == "POST":
            collection, condition = where_clause(body["query"])
            twins = self._twins(collection, condition)
            start = int(request.headers.get("x-ms-continuation") or 0)
            self.continued += start > 0
            size = min(int(request.headers.get("x-ms-max-item-count") or 100), self.page)
            more = start + size < len(twins)
            return self._answer(request, 200, twins[start:start + size], {
                "x-ms-item-type": "Twin", "x-ms-continuation": str(start + size) if more else ""})
        if parts[0] == "twins" and len(parts) == 2 and request.method == "PATCH":
            self.fleet.tag_devices({parts[1]: body.get("tags") or {}})
            return self._answer(request, 200, {"deviceId": parts[1], "tags": self.fleet.devices[parts[1]].tags})
        return self._answer(request, 404, {"Message": f"no route {request.method} {path}"})

    def close(self) -> None:
        pass


def _deserialize_configuration(body: dict):
    from azure.iot.hub.models import Configuration

    return Configuration.deserialize(body)


class _Token:
    def get_token(self, *scopes, **kwargs):
        return AccessToken("token", int(time.time()) + 3600)


def adapter(rest: IotHubRest) -> IotHubFleet:
    from azure.iot.hub import IoTHubConfigurationManager, IoTHubRegistryManager

    fleet = IotHubFleet(IoTHubRegistryManager.from_token_credential(HUB, _Token()),
                        IoTHubConfigurationManager.from_token_credential(HUB, _Token()))

    def mount(session, global_config, local_config, **kwargs):
        session.mount("https://", rest)
        return kwargs

    fleet.registry.protocol.config.session_configuration_callback = mount
    fleet.configurations.protocol.config.session_configuration_callback = mount
    return fleet


class ReporterRuntime(SimulatedRuntime):
    """``SimulatedRuntime`` as an IoT Edge device with the fleet reporter: the model module's report is in the
    reporter's own twin (a module writes only its own twin; the model module writes none), and edgeAgent reports
    the reporter running when the deployment has it."""

    def apply(self, device: str, arch: str, desired: dict[str, dict[str, Any]],
              reported: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        reporter = MODULE + "-reporter"
        result = super().apply(device, arch, desired, {k: v for k, v in reported.items() if k != reporter})
        if reporter in desired.get("$edgeAgent", {}).get("modules", {}):
            result["$edgeAgent"]["modules"][reporter] = {"runtimeStatus": "running"}
        own = result.pop(MODULE, {})
        result[reporter] = merge_patch(reported.get(reporter, {}), {"factory": own["factory"]}) \
            if "factory" in own else reported.get(reporter, {})
        return result


def simulated(behaviour) -> SimulatedFleet:
    sim = SimulatedFleet(ReporterRuntime(MODULE, behaviour))
    for i in range(30):
        sim.add_device(f"truck-{i:02d}", "arm64" if i % 3 == 0 else "amd64", {"site": "plant-a"})
    sim.create_deployment(LayeredDeployment("mf-nyc-taxi-v4-all", "tags.site = 'plant-a'", 3,
                                            layered_content(MODEL, MODULE, "4", IMAGE.replace("b", "a"), "run-4"),
                                            {LABEL_MODEL: MODEL, LABEL_VERSION: "4"}))
    return sim


def signals(p95: float) -> Outcome:
    return Outcome(signals=VersionSignals(requests=50, p50_ms=p95 / 2, p95_ms=p95,
                                          histogram={"10-20": 30, "20-30": 20}))


def test_configuration_round_trips_through_the_sdk_model_as_iot_hub_expects_it():
    deployment = LayeredDeployment("mf-nyc-taxi-v5-canary", "tags.site = 'a'", 4,
                                   layered_content(MODEL, MODULE, "5", IMAGE, "run-5"),
                                   {LABEL_MODEL: MODEL}, {"reportingVersion": "SELECT deviceId FROM devices.modules"})
    body = configuration_of(deployment).serialize()
    assert body["targetCondition"] == "tags.site = 'a'" and body["priority"] == 4
    agent = body["content"]["modulesContent"]["$edgeAgent"][f"properties.desired.modules.{MODULE}"]
    assert agent["settings"]["image"] == IMAGE and agent["version"] == "5"
    assert body["metrics"]["queries"] == {"reportingVersion": "SELECT deviceId FROM devices.modules"}
    assert deployment_of(_deserialize_configuration(body)) == deployment


def test_rollout_through_the_sdk_completes_with_paged_queries_and_one_tag_write_per_new_device():
    sim = simulated(lambda device, arch, version: signals(10.0))
    rest = IotHubRest(sim)
    service = RolloutService(adapter(rest), lambda model: SPEC)
    result = run_orchestrator(fleet_rollout, {"run_id": "run-5", "model": MODEL, "version": "5", "image": IMAGE},
                              handlers(service))
    ended = RolloutResult.from_dict(result.output)
    assert ended.status == RolloutStatus.COMPLETED and ended.previous_version == "4"
    assert all(BUCKET_TAG in d.tags for d in sim.devices.values())
    patches = [s for s in rest.sent if s[0] == "PATCH"]
    assert len(patches) == 30 and all(set(body["tags"]) == {BUCKET_TAG} for _, _, body in patches)
    puts = [path for method, path, _ in rest.sent if method == "PUT"]
    assert puts == ["/configurations/mf-nyc-taxi-v5-canary", "/configurations/mf-nyc-taxi-v5-all"]
    assert [p for m, p, _ in rest.sent if m == "DELETE"] == ["/configurations/mf-nyc-taxi-v4-all"]  # cleanup
    queries = [body["query"] for method, _, body in rest.sent if method == "POST"]
    assert any("deviceId IN [" in q and f"moduleId IN ['$edgeAgent', '{MODULE}-reporter']" in q
               for q in queries)  # the model's report is in its reporter's twin (``module_report``)
    assert rest.continued >= 4  # 30 devices in pages of 7: the adapter follows x-ms-continuation
    assert {r.version for r in sim.device_reports("*", MODULE)} == {"5"}


def test_rollout_through_the_sdk_rolls_back_a_slow_version_and_retried_calls_are_idempotent():
    sim = simulated(lambda device, arch, version: signals(40.0 if version == "5" else 10.0))
    rest = IotHubRest(sim)
    fleet = adapter(rest)
    service = RolloutService(fleet, lambda model: SPEC)
    result = run_orchestrator(fleet_rollout, {"run_id": "run-5", "model": MODEL, "version": "5", "image": IMAGE},
                              handlers(service))
    ended = RolloutResult.from_dict(result.output)
    assert ended.status == RolloutStatus.ROLLED_BACK and "p95_regression 3" in ended.reason
    assert {r.version for r in sim.device_reports("*", MODULE)} == {"4"}
    fleet.delete_deployment("mf-nyc-taxi-v5-canary")  # again: 404 is not an error
    fleet.create_deployment(deployment_of(_deserialize_configuration(
        configuration_of(sim.configurations["mf-nyc-taxi-v4-all"][1]).serialize())))  # exists: 409 is not either
    assert fleet.deployment_metrics("mf-nyc-taxi-v4-all")["targetedCount"] == 30


def test_the_inventory_through_the_sdk_reads_every_device_with_its_modules_and_last_activity():
    sim = simulated(lambda device, arch, version: signals(10.0) if arch == "amd64" else Outcome(status="backoff"))
    sim.add_device("parked", "amd64", {"site": "plant-b"})
    sim.set_connected("parked", False)  # never connected: IoT Hub's lastActivityTime is year 1
    rest = IotHubRest(sim, page=7)
    devices = {d.device: d for d in adapter(rest).inventory()}
    assert len(devices) == 31 and rest.continued >= 4  # 31 device twins in pages of 7
    amd, arm = devices["truck-01"], devices["truck-00"]
    assert [(m.module, m.model, m.desired, m.reported, m.status) for m in amd.modules] == [
        (MODULE, MODEL, "4", "4", "running")]
    assert (arm.modules[0].status, arm.modules[0].reported) == ("backoff", "")  # crashed: reports nothing
    assert amd.last_report == sim.devices["truck-01"].last_report != ""
    assert devices["parked"].last_report == "" and not devices["parked"].connected
    assert devices == {d.device: d for d in sim.inventory()}  # the same records as the simulated hub's own
