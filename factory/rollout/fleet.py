# pyright: strict
"""The ``Fleet`` port (IoT Hub's view of the devices a model rolls out to) and the layered deployments the
rollout writes through it.

One IoT Hub configuration per model version and ring: a *layered* IoT Edge deployment whose content sets only
the model's module (``properties.desired.modules.<module>``, image pinned by digest) and that module's twin
``factory`` section (model, version, run), so it lays over whatever base deployment the device has; when the
factory knows the fleet reporter's image (setting ``FACTORY_FLEET_REPORTER_IMAGE``), also the reporter module
``<module>-reporter`` beside it (its spec the same in every version, so a new version's layer does not restart
it) and its twin's ``factory`` section. Its priority is above the previous version's; deleting it lets the
previous version's layer apply again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from contract import DeviceReport, FleetDevice, ModuleView, Record
from factory.fields import as_dict

MODEL_PORT = 5001
REPORTER_SUFFIX = "-reporter"  # the fleet reporter module beside model module <module> is <module>-reporter
REPORTER_SETTING = "FACTORY_FLEET_REPORTER_IMAGE"
REPORTER_MEMORY = 64 * 1024 * 1024
LABEL_MODEL = "factoryModel"
LABEL_VERSION = "factoryVersion"
LABEL_RING = "factoryRing"
_ID_UNSAFE = re.compile(r"[^a-z0-9-]+")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_LITERAL = re.compile(r"^[A-Za-z0-9._-]+$")  # what a model version or module name put in a query may hold


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


def reporter_module(module: str, image: str) -> dict[str, Any]:
    """The fleet reporter's edgeAgent module spec beside model module ``module`` (``edge/fleet_reporter``): the
    same in every layer and on every device, so only its desired properties change between versions."""
    options = {"HostConfig": {"Memory": REPORTER_MEMORY}}
    return {"version": "1.0", "type": "docker", "status": "running", "restartPolicy": "always", "startupOrder": 2,
            "imagePullPolicy": "on-create",
            "env": {"MODEL_MODULE": {"value": module}, "MODEL_PORT": {"value": str(MODEL_PORT)}},
            "settings": {"image": image, "createOptions": json.dumps(options, separators=(",", ":"))}}


def is_reporter(module: str, modules: Iterable[str]) -> bool:
    """Whether ``module`` is the fleet reporter of another module of ``modules``."""
    return module.endswith(REPORTER_SUFFIX) and module.removesuffix(REPORTER_SUFFIX) in set(modules)


def check_reporter_image(reporter: str) -> str:
    """``reporter`` if it is pinned by digest, else ``FleetError`` naming the setting it comes from."""
    if not _DIGEST.search(reporter):
        raise FleetError(f"setting {REPORTER_SETTING}: the fleet reporter image must be pinned by digest "
                         f"(registry/repository@sha256:<64 hex>), got {reporter!r}")
    return reporter


def layered_content(model: str, module: str, version: str, image: str, run_id: str,
                    reporter: str = "") -> dict[str, Any]:
    """The layered deployment's modules content: the model module pinned by digest and its twin's ``factory``;
    with ``reporter`` (the fleet reporter's image, pinned by digest) also ``<module>-reporter`` and its twin's
    ``factory`` (the version it should see the model serve)."""
    literal(version, "model version")
    if not _DIGEST.search(image):
        raise FleetError(f"rollout of {model} {version}: image must be pinned by digest "
                         f"(registry/repository@sha256:<64 hex>), got {image!r}")
    options: dict[str, Any] = {"ExposedPorts": {f"{MODEL_PORT}/tcp": {}}, "HostConfig": {"Memory": 1024 * 1024 * 1024}}
    factory = {"model": model, "version": version, "runId": run_id}
    agent: dict[str, Any] = {f"properties.desired.modules.{module}": {
        "version": version, "type": "docker", "status": "running", "restartPolicy": "always",
        "imagePullPolicy": "on-create",
        "env": {"MODEL_NAME": {"value": model}, "MODEL_VERSION": {"value": version},
                "PORT": {"value": str(MODEL_PORT)}},
        "settings": {"image": image, "createOptions": json.dumps(options, separators=(",", ":"))},
    }}
    content: dict[str, Any] = {"$edgeAgent": agent, module: {"properties.desired.factory": factory}}
    if reporter:
        name = reporter_name(module)
        agent[f"properties.desired.modules.{name}"] = reporter_module(module, check_reporter_image(reporter))
        content[name] = {"properties.desired.factory": dict(factory)}
    return content


def literal(value: str, what: str, longest: int = 64) -> str:
    """``value`` if it is safe inside a query's quotes (letters, digits, . _ -; at most ``longest``), else
    ``FleetError``."""
    if not _LITERAL.match(value) or len(value) > longest:
        raise FleetError(f"{what} {value!r}: expected letters, digits, '.', '_' or '-' (at most {longest})")
    return value


def reporter_name(module: str) -> str:
    """The fleet reporter module beside model module ``module`` (a module id: at most 128, IoT Hub's limit)."""
    return literal(module + REPORTER_SUFFIX, "reporter module", 128)


def version_metric(module: str, version: str) -> str:
    """The custom metric query: devices whose model module reports running ``version`` (in its reporter's twin on
    a real device, in its own where the local fleet hub copies the report)."""
    module, version = literal(module, "module"), literal(version, "model version")
    reporter = reporter_name(module)
    return (f"SELECT deviceId FROM devices.modules WHERE moduleId IN ['{module}', '{reporter}'] "  # noqa: S608
            f"AND properties.reported.factory.version = '{version}'")  # (checked literals)


def module_report(reported: dict[str, dict[str, Any]], module: str) -> dict[str, Any]:
    """Model module ``module``'s reported properties as the gates read them: its reporter's twin when that holds
    a ``factory`` section (a module writes only its own twin: on a device the reporter reports), else its own."""
    reporter = as_dict(reported.get(module + REPORTER_SUFFIX))
    return reporter if "factory" in reporter else as_dict(reported.get(module))


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
    properties (``$edgeAgent``'s included); the modules are the ones edgeAgent is told to run, but for the fleet
    reporters, whose reports are their model module's (both adapters read the same shapes)."""
    wanted = as_dict(as_dict(desired.get("$edgeAgent")).get("modules"))
    running = as_dict(as_dict(reported.get("$edgeAgent")).get("modules"))
    views: list[ModuleView] = []
    for module in sorted(m for m in wanted if not is_reporter(m, wanted)):  # a reporter is its model's row
        want = as_dict(as_dict(desired.get(module)).get("factory"))
        have = as_dict(module_report(reported, module).get("factory"))
        views.append(ModuleView(
            module=module, model=str(want.get("model", "")),
            desired=str(want.get("version", "") or as_dict(wanted[module]).get("version", "")),
            reported=str(have.get("version", "")), status=str(as_dict(running.get(module)).get("runtimeStatus", "")),
            health=str(have.get("health", ""))))
    bucket = tags.get(bucket_tag, -1)
    return FleetDevice(device=device, arch=str(tags.get("arch", "")),
                       bucket=bucket if isinstance(bucket, int) and not isinstance(bucket, bool) else -1,
                       connected=connected, last_report=last_report, modules=views)
