"""The IoT Hub adapter's pure half (no SDK imported, nothing called): the smoke device's lease tag, a device's
modules content from its twins' desired properties, and the SDK's ``Configuration`` and twin fields read back as
the factory's records. ``iothub.py`` makes the calls.

The lease tag ``factorySmokeLease`` is ``{holder, expires_at, queue}``; ``queue`` (the runs waiting for the
device, oldest first) is a JSON string, not an object or array: tag keys may not hold the ``.``/``$`` a run id
may, and a string is replaced whole by the twin's merge-patch.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, cast

from factory.edge.manifest import EDGE_AGENT_IMAGE, EDGE_HUB_IMAGE, split_create_options
from factory.edge.pool import LeaseState, Waiter
from factory.rollout.fleet import LayeredDeployment


def lease_from_tag(tag: Any) -> LeaseState:
    """The ``factorySmokeLease`` tag as a ``LeaseState`` (a missing or malformed tag: a free device)."""
    if not isinstance(tag, dict):
        return LeaseState()
    fields = cast(dict[str, Any], tag)
    try:
        raw = json.loads(fields.get("queue") or "[]")
        queue = tuple(Waiter(str(w["holder"]), _iso(w["first"]), _iso(w["last"])) for w in raw)
    except (ValueError, TypeError, KeyError):
        queue = ()
    try:
        expires = _iso(fields.get("expires_at") or "") if fields.get("expires_at") else ""
    except (ValueError, TypeError):
        expires = ""
    return LeaseState(str(fields.get("holder") or ""), expires, queue)


def _iso(value: Any) -> str:
    """``value`` if it is an ISO time with a time zone (else ``ValueError``)."""
    if dt.datetime.fromisoformat(str(value)).tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return str(value)


def lease_tag(state: LeaseState) -> dict[str, str]:
    """The ``factorySmokeLease`` tag for a ``LeaseState`` (every field written, so the merge-patch replaces it)."""
    queue = [{"holder": w.holder, "first": w.first, "last": w.last} for w in state.queue]
    return {"holder": state.holder, "expires_at": state.expires_at,
            "queue": json.dumps(queue, separators=(",", ":"))}


def desired_only(properties: dict[str, Any] | None) -> dict[str, Any]:
    """Twin properties without IoT Hub's read-only ``$metadata`` / ``$version`` keys."""
    return {k: v for k, v in (properties or {}).items() if not k.startswith("$")}


def system_only_content() -> dict[str, Any]:
    """Modules content of a device with only the runtime (edgeAgent, edgeHub 1.4) and no custom modules."""
    hub_options = {"HostConfig": {"PortBindings": {"5671/tcp": [{"HostPort": "5671"}],
                                                   "8883/tcp": [{"HostPort": "8883"}],
                                                   "443/tcp": [{"HostPort": "443"}]}}}
    return {
        "$edgeAgent": {"properties.desired": {
            "schemaVersion": "1.1",
            "runtime": {"type": "docker", "settings": {"minDockerVersion": "v1.25", "loggingOptions": "",
                                                       "registryCredentials": {}}},
            "systemModules": {
                "edgeAgent": {"type": "docker", "settings": {"image": EDGE_AGENT_IMAGE, "createOptions": "{}"}},
                "edgeHub": {"type": "docker", "status": "running", "restartPolicy": "always",
                            "settings": {"image": EDGE_HUB_IMAGE, **split_create_options(hub_options)}},
            },
            "modules": {},
        }},
        "$edgeHub": {"properties.desired": {"schemaVersion": "1.2", "routes": {},
                                            "storeAndForwardConfiguration": {"timeToLiveSecs": 7200}}},
    }


def content_from_twins(twin_desired: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Modules content from ``{module id: desired properties}`` of a device's twins; ``{}`` when the device has
    never had a deployment (no ``$edgeAgent`` desired properties)."""
    agent = desired_only(twin_desired.get("$edgeAgent"))
    if not agent.get("modules") and not agent.get("systemModules"):
        return {}
    content: dict[str, Any] = {"$edgeAgent": {"properties.desired": agent},
                               "$edgeHub": {"properties.desired": desired_only(twin_desired.get("$edgeHub"))}}
    for module in agent.get("modules", {}):
        desired = desired_only(twin_desired.get(module))
        if desired:
            content[module] = {"properties.desired": desired}
    return content


def deployment_of(configuration: Any) -> LayeredDeployment:
    """A ``LayeredDeployment`` from the SDK's ``Configuration`` (as ``get_configurations`` returns it)."""
    content = configuration.content
    return LayeredDeployment(
        id=configuration.id, target_condition=configuration.target_condition or "",
        priority=int(configuration.priority or 0),
        modules_content=dict((content.modules_content if content else None) or {}),
        labels=dict(configuration.labels or {}),
        metrics=dict((configuration.metrics.queries if configuration.metrics else None) or {}))


def metrics_of(configuration: Any) -> dict[str, int]:
    """System metrics and custom metric counts of an SDK ``Configuration``."""
    results: dict[str, int] = {}
    for metrics in (configuration.system_metrics, configuration.metrics):
        results.update({k: int(v) for k, v in ((metrics.results if metrics else None) or {}).items()})
    return results


def last_activity(value: Any) -> str:
    """A twin's ``lastActivityTime`` as ISO 8601 UTC to the second; ``""`` for IoT Hub's "never"
    (``0001-01-01``) or no value."""
    if not isinstance(value, dt.datetime) or value.year < 2000:
        return ""
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")
