# pyright: strict
"""``Fleet`` on simulated device twins, implementing IoT Edge automatic deployments the way IoT Hub does.

- a configuration targets the twins its target condition selects (over tags, ``deviceId``, ``connectionState``);
- on each device the targeting configurations are merged in priority order (ties: the newer wins), each setting
  only the paths it names (``properties.desired.modules.<m>``, ``properties.desired.<section>``): the layered
  merge; the device's base content lies below every layer;
- a connected device applies its merged desired content through a ``DeviceRuntime`` (what runs the modules and
  writes their reported properties; tests and the bench pass simulated ones, the real-container fleet is a
  runtime too); a disconnected device keeps what it had and converges when it returns;
- system metrics per configuration: targeted, applied (the layer wins at least one of its paths on the device),
  reported successful / failed (edgeAgent's runtime status of the layer's modules); custom metrics: the count of
  module twins a ``SELECT ... FROM devices.modules WHERE ...`` query matches.

``operations`` counts the IoT Hub requests the IoT Hub adapter would make for the same calls (a query: one
request per page of 1000 twins; the module twins: one query per ``id_chunks`` list; a tag: one twin update per
device), for the bench. ``history`` logs each configuration the hub created or deleted (an idempotent create of
an existing id, or delete of a missing one, changes nothing and is not logged).
"""

from __future__ import annotations

import copy
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from contract import DeviceReport, FleetDevice
from factory.adapters.local.iothub_query import compile_condition, where_clause
from factory.edge.twin_patch import merge_patch as merge_patch  # re-exported for fleet_store, fleet_runtime
from factory.rollout.fleet import (
    LABEL_MODEL,
    Fleet,
    FleetError,
    LayeredDeployment,
    device_view,
    id_chunks,
    module_report,
    pages,
    report_fields,
)
from factory.rollout.gate import FAILING_STATES
from factory.rollout.spec import BUCKET_TAG

MAX_CONFIGURATIONS = 100  # IoT Hub's limit of automatic deployments (+ configurations) per hub (S1-S3)
Twin = dict[str, Any]


def iso_time(seconds: float) -> str:
    """ISO 8601 UTC, to the second (how the fleet records a device's last report)."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _set_path(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = target
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = copy.deepcopy(cast(object, value))


class DeviceRuntime(Protocol):
    """What runs on one device: applies the desired properties of its modules' twins and returns each module
    twin's reported properties (``$edgeAgent`` included, with ``modules.<m>.runtimeStatus``)."""

    def apply(self, device: str, arch: str, desired: dict[str, dict[str, Any]],
              reported: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]: ...


@dataclass
class SimDevice:
    device_id: str
    arch: str = "amd64"
    tags: dict[str, Any] = field(default_factory=dict[str, Any])
    connected: bool = True
    base: dict[str, dict[str, Any]] = field(default_factory=dict[str, dict[str, Any]])  # module -> desired
    desired: dict[str, dict[str, Any]] = field(default_factory=dict[str, dict[str, Any]])
    reported: dict[str, dict[str, Any]] = field(default_factory=dict[str, dict[str, Any]])
    winners: set[str] = field(default_factory=set[str])  # the configurations that win a path here
    last_report: str = ""  # when its runtime last reported (ISO 8601 UTC)

    def doc(self) -> Twin:
        return {"deviceId": self.device_id, "tags": self.tags,
                "connectionState": "Connected" if self.connected else "Disconnected"}


class SimulatedFleet:
    """IoT Hub's configurations and twins for a fleet of simulated devices (see the module docstring)."""

    def __init__(self, runtime: DeviceRuntime, clock: Callable[[], float] = time.time) -> None:
        self.runtime, self.clock = runtime, clock
        self.devices: dict[str, SimDevice] = {}
        self.configurations: dict[str, tuple[int, LayeredDeployment]] = {}  # id -> (creation order, config)
        self.operations: Counter[str] = Counter()
        self.history: list[tuple[str, str]] = []  # ("created" | "deleted", configuration id): each real change
        self._created = itertools.count()

    def add_device(self, device_id: str, arch: str = "amd64", tags: dict[str, Any] | None = None,
                   base: dict[str, dict[str, Any]] | None = None) -> SimDevice:
        device = SimDevice(device_id, arch, {"arch": arch, **(tags or {})}, base=copy.deepcopy(base or {}))
        self.devices[device_id] = device
        return device

    def set_connected(self, device_id: str, connected: bool) -> None:
        self.devices[device_id].connected = connected

    # --- the Fleet port -------------------------------------------------------------------------------------
    def deployments(self, model: str) -> list[LayeredDeployment]:
        self.operations["list_configurations"] += 1
        return [c for _, c in sorted(self.configurations.values(), key=lambda item: item[0])
                if c.labels.get(LABEL_MODEL) == model]

    def create_deployment(self, deployment: LayeredDeployment) -> None:
        self.operations["create_configuration"] += 1
        if deployment.id in self.configurations:
            return
        if len(self.configurations) >= MAX_CONFIGURATIONS:
            raise FleetError(f"configuration {deployment.id}: the hub already holds {MAX_CONFIGURATIONS} "
                             "configurations (IoT Hub's limit)")
        compile_condition(deployment.target_condition)  # IoT Hub refuses a condition it cannot parse
        for query in deployment.metrics.values():
            compile_condition(where_clause(query)[1])
        self.configurations[deployment.id] = (next(self._created), copy.deepcopy(deployment))
        self.history.append(("created", deployment.id))

    def delete_deployment(self, deployment_id: str) -> None:
        self.operations["delete_configuration"] += 1
        if self.configurations.pop(deployment_id, None) is not None:
            self.history.append(("deleted", deployment_id))

    def deployment_metrics(self, deployment_id: str) -> dict[str, int]:
        self.operations["get_configuration"] += 1
        self.sync()
        _, config = self.configurations[deployment_id]
        matches = compile_condition(config.target_condition)
        targeted = [d for d in self.devices.values() if matches(d.doc())]
        applied = [d for d in targeted if deployment_id in d.winners]
        modules = [p.rsplit(".", 1)[-1] for p in config.modules_content.get("$edgeAgent", {})
                   if p.startswith("properties.desired.modules.")]
        statuses = [[d.reported.get("$edgeAgent", {}).get("modules", {}).get(m, {}).get("runtimeStatus", "")
                     for m in modules] for d in applied]
        metrics = {"targetedCount": len(targeted), "appliedCount": len(applied),
                   "reportedSuccessfulCount": sum(1 for s in statuses if s and all(x == "running" for x in s)),
                   "reportedFailedCount": sum(1 for s in statuses if any(x in FAILING_STATES for x in s))}
        for name, query in config.metrics.items():
            collection, condition = where_clause(query)
            metrics[name] = len(self._select(collection, condition))
        return metrics

    def untagged_devices(self, condition: str, tag: str) -> list[str]:
        matches = compile_condition(condition)
        found = [d.device_id for d in self.devices.values() if matches(d.doc()) and tag not in d.tags]
        self.operations["query"] += pages(len(found))
        return found

    def tag_devices(self, tags: dict[str, dict[str, Any]]) -> None:
        for device_id, patch in tags.items():
            self.operations["update_twin"] += 1
            device = self.devices[device_id]
            device.tags = merge_patch(device.tags, patch)

    def device_reports(self, condition: str, module: str) -> list[DeviceReport]:
        self.sync()
        matches = compile_condition(condition)
        selected = [d for d in self.devices.values() if matches(d.doc())]
        self.operations["query"] += pages(len(selected)) + sum(  # the devices, then edgeAgent's and the reporter's
            pages(2 * len(chunk)) for chunk in id_chunks(sorted(d.device_id for d in selected)))  # module twins
        return [report_fields(d.device_id, d.tags, d.connected, d.reported.get("$edgeAgent", {}), module,
                              module_report(d.reported, module), BUCKET_TAG) for d in selected]

    def inventory(self) -> list[FleetDevice]:
        self.sync()
        twins = {i: len(set(d.desired) | set(d.reported)) for i, d in self.devices.items()}  # module twins per device
        self.operations["query"] += pages(len(self.devices)) + sum(  # the devices, then every module twin of them
            pages(sum(twins[i] for i in chunk)) for chunk in id_chunks(sorted(self.devices)))
        return [device_view(d.device_id, d.tags, d.connected, d.last_report, d.desired, d.reported, BUCKET_TAG)
                for _, d in sorted(self.devices.items())]

    # --- the devices ----------------------------------------------------------------------------------------
    def _merged(self, device: SimDevice) -> dict[str, dict[str, Any]]:
        """The device's desired properties per module: its base, then each targeting layer by priority."""
        desired = copy.deepcopy(device.base)
        layers = sorted(((c.priority, order, c) for order, c in self.configurations.values()
                         if compile_condition(c.target_condition)(device.doc())), key=lambda item: item[:2])
        owner: dict[tuple[str, str], str] = {}
        for _, _, config in layers:
            for module, paths in config.modules_content.items():
                for path, value in cast(dict[str, Any], paths).items():
                    if path == "properties.desired":
                        desired[module] = copy.deepcopy(value)
                    else:
                        _set_path(desired.setdefault(module, {}), path.removeprefix("properties.desired."), value)
                    owner[(module, path)] = config.id
        device.winners = set(owner.values())
        return desired

    def merged(self, device_id: str) -> dict[str, dict[str, Any]]:
        """The merged desired properties per module of one device, as it would apply them now."""
        return self._merged(self.devices[device_id])

    def sync(self) -> None:
        """Every connected device applies its merged desired content (a disconnected one keeps its state)."""
        for device in self.devices.values():
            if not device.connected:
                continue
            desired = self._merged(device)
            if desired != device.desired or not device.reported:
                device.desired = desired
                reported = self.runtime.apply(device.device_id, device.arch, copy.deepcopy(desired),
                                              copy.deepcopy(device.reported))
                if reported != device.reported:
                    device.reported, device.last_report = reported, iso_time(self.clock())

    def _select(self, collection: str, condition: str) -> list[Twin]:
        matches = compile_condition(condition)
        docs: list[Twin] = []
        for device in self.devices.values():
            if collection == "devices":
                docs.append(device.doc())
                continue
            for module in set(device.desired) | set(device.reported):
                docs.append({"deviceId": device.device_id, "moduleId": module, "properties": {
                    "desired": device.desired.get(module, {}), "reported": device.reported.get(module, {})}})
        return [doc for doc in docs if matches(doc)]


# pyright checks each adapter against its port here (a missing or mistyped method fails `make test`)
_SimulatedFleet: type[Fleet] = SimulatedFleet
