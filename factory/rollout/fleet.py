# pyright: strict
"""The ``Fleet`` port (IoT Hub's view of the devices a model rolls out to) and the layered deployments the
rollout writes through it.

One IoT Hub configuration per model version and ring: a *layered* IoT Edge deployment whose content sets only
the model's module (``properties.desired.modules.<module>``, image pinned by digest) and that module's twin
``factory`` section (model, version, run), so it lays over whatever base deployment the device has. Its
priority is above the previous version's; deleting it lets the previous version's layer apply again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from contract import DeviceReport, FleetDevice, ModuleView, Record
from factory.fields import as_dict

MODEL_PORT = 5001
LABEL_MODEL = "factoryModel"
LABEL_VERSION = "factoryVersion"
LABEL_RING = "factoryRing"
_ID_UNSAFE = re.compile(r"[^a-z0-9-]+")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_LITERAL = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # what a model version or module name put in a query may hold


class FleetError(RuntimeError):
    """The fleet refused an operation (a bad configuration, a quota); the message says which and why."""


@dataclass(frozen=True)
class LayeredDeployment(Record):
    """An IoT Hub configuration for IoT Edge (``content.modulesContent``), layered (``$edgeAgent`` paths)."""

    id: str
    target_condition: str
    priority: int
    modules_content: dict[str, Any] = field(default_factory=dict[str, Any])
    labels: dict[str, str] = field(default_factory=dict[str, str])
    metrics: dict[str, str] = field(default_factory=dict[str, str])  # custom metric name -> IoT Hub query


class Fleet(Protocol):
    """The devices a model rolls out to, as IoT Hub keeps them. Every operation is per configuration or per
    query, never per device, except the one-time bucket tag of a device that has none yet."""

    def deployments(self, model: str) -> list[LayeredDeployment]:
        """The model's configurations (label ``factoryModel``), any version."""
        ...

    def create_deployment(self, deployment: LayeredDeployment) -> None:
        """Create it; an existing configuration of the same id is left as it is (idempotent)."""
        ...

    def delete_deployment(self, deployment_id: str) -> None:
        """Delete it; a missing one is not an error (idempotent)."""
        ...

    def deployment_metrics(self, deployment_id: str) -> dict[str, int]:
        """System metrics (targetedCount, appliedCount, reportedSuccessfulCount, reportedFailedCount) and the
        custom metrics' counts of one configuration."""
        ...

    def untagged_devices(self, condition: str, tag: str) -> list[str]:
        """The ids of the devices matching ``condition`` whose twin has no tag ``tag``."""
        ...

    def tag_devices(self, tags: dict[str, dict[str, Any]]) -> None:
        """Merge ``{device id: {tag: value}}`` into the devices' twin tags."""
        ...

    def device_reports(self, condition: str, module: str) -> list[DeviceReport]:
        """Every device matching ``condition``: connection, bucket, the module's runtime status (edgeAgent) and
        its reported ``factory`` section (version, health, signals per version)."""
        ...

    def inventory(self) -> list[FleetDevice]:
        """Every device of the hub with its modules (desired and reported version, runtime status, health) and
        when it last reported; a read for people (the fleet page, ``model-factory fleet``), never for a gate."""
        ...


QUERY_PAGE = 1000  # twins per query page (IoT Hub's maximum page size)
QUERY_CHARS = 7000  # a query's text stays under IoT Hub's 8 KB limit


def id_chunks(ids: list[str], budget: int = QUERY_CHARS - 200) -> list[list[str]]:
    """Device ids packed into ``deviceId IN [...]`` lists whose text fits a query (ids with a quote are left out:
    IoT Hub allows ``'`` in a device id, the factory's queries do not)."""
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 0
    for device in ids:
        if "'" in device:
            continue
        if current and size + len(device) + 4 > budget:
            chunks.append(current)
            current, size = [], 0
        current.append(device)
        size += len(device) + 4
    return chunks + [current] * bool(current)


def pages(items: int) -> int:
    """Query requests a result of ``items`` twins takes (one at least)."""
    return max(1, -(-items // QUERY_PAGE))


def configuration_id(model: str, version: str, ring: str) -> str:
    """``mf-<model>-v<version>-<ring>``: lower-case, at most 128 characters (IoT Hub's limit)."""
    return _ID_UNSAFE.sub("-", f"mf-{model}-v{version}-{ring}".lower()).strip("-")[:128]


def layered_content(model: str, module: str, version: str, image: str, run_id: str) -> dict[str, Any]:
    """The layered deployment's modules content: the model module pinned by digest, and its twin's ``factory``."""
    literal(version, "model version")
    if not _DIGEST.search(image):
        raise FleetError(f"rollout of {model} {version}: image must be pinned by digest "
                         f"(registry/repository@sha256:<64 hex>), got {image!r}")
    options: dict[str, Any] = {"ExposedPorts": {f"{MODEL_PORT}/tcp": {}}, "HostConfig": {"Memory": 1024 * 1024 * 1024}}
    return {
        "$edgeAgent": {f"properties.desired.modules.{module}": {
            "version": version, "type": "docker", "status": "running", "restartPolicy": "always",
            "imagePullPolicy": "on-create",
            "env": {"MODEL_NAME": {"value": model}, "MODEL_VERSION": {"value": version},
                    "PORT": {"value": str(MODEL_PORT)}},
            "settings": {"image": image, "createOptions": json.dumps(options, separators=(",", ":"))},
        }},
        module: {"properties.desired.factory": {"model": model, "version": version, "runId": run_id}},
    }


def literal(value: str, what: str) -> str:
    """``value`` if it is safe inside a query's quotes (letters, digits, . _ -), else ``FleetError``."""
    if not _LITERAL.match(value):
        raise FleetError(f"{what} {value!r}: expected letters, digits, '.', '_' or '-' (at most 64)")
    return value


def version_metric(module: str, version: str) -> str:
    """The custom metric query: devices whose model module reports running ``version``."""
    module, version = literal(module, "module"), literal(version, "model version")
    return (f"SELECT deviceId FROM devices.modules WHERE moduleId = '{module}' "  # noqa: S608 (checked literals)
            f"AND properties.reported.factory.version = '{version}'")


def report_fields(device: str, tags: dict[str, Any], connected: bool, agent_reported: dict[str, Any],
                  module: str, module_reported: dict[str, Any], bucket_tag: str) -> DeviceReport:
    """A ``DeviceReport`` from a device's twin tags and connection, ``$edgeAgent``'s reported properties and the
    model module's reported ``factory`` section (both adapters read the same shapes)."""
    status = as_dict(as_dict(agent_reported.get("modules")).get(module)).get("runtimeStatus", "")
    factory = as_dict(module_reported.get("factory"))
    bucket = tags.get(bucket_tag, -1)
    return DeviceReport.from_dict({
        "device": device, "bucket": bucket if isinstance(bucket, int) else -1,
        "arch": str(tags.get("arch", "")), "connected": connected, "version": str(factory.get("version", "")),
        "module_status": str(status), "health": str(factory.get("health", "ok")),
        "signals": as_dict(factory.get("signals"))})


def device_view(device: str, tags: dict[str, Any], connected: bool, last_report: str,
                desired: dict[str, dict[str, Any]], reported: dict[str, dict[str, Any]],
                bucket_tag: str) -> FleetDevice:
    """A ``FleetDevice`` from a device's twin tags and connection and its module twins' desired and reported
    properties (``$edgeAgent``'s included); the modules are the ones edgeAgent is told to run (both adapters read
    the same shapes)."""
    wanted = as_dict(as_dict(desired.get("$edgeAgent")).get("modules"))
    running = as_dict(as_dict(reported.get("$edgeAgent")).get("modules"))
    views: list[ModuleView] = []
    for module in sorted(wanted):
        want = as_dict(as_dict(desired.get(module)).get("factory"))
        have = as_dict(as_dict(reported.get(module)).get("factory"))
        views.append(ModuleView(
            module=module, model=str(want.get("model", "")),
            desired=str(want.get("version", "") or as_dict(wanted[module]).get("version", "")),
            reported=str(have.get("version", "")), status=str(as_dict(running.get(module)).get("runtimeStatus", "")),
            health=str(have.get("health", ""))))
    bucket = tags.get(bucket_tag, -1)
    return FleetDevice(device=device, arch=str(tags.get("arch", "")),
                       bucket=bucket if isinstance(bucket, int) and not isinstance(bucket, bool) else -1,
                       connected=connected, last_report=last_report, modules=views)
