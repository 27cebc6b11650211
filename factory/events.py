"""Event Grid events (Event Grid schema) the local stand-ins publish, shaped as Azure sends them.

Shapes follow the samples in the Azure docs for Blob Storage, Azure Machine Learning and Container Registry
as Event Grid sources. Local publishers post a JSON array to devhost's topic endpoint
(``FACTORY_EVENTGRID_ENDPOINT``) with the topic key (``FACTORY_EVENTGRID_KEY``, sent as ``aeg-sas-key`` as Event
Grid topics take it), which routes each event by the subscriptions in ``infra/eventgrid-subscriptions.json``; no
endpoint configured means nothing is published.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any, cast

log = logging.getLogger(__name__)

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"
RUN_STATUS_CHANGED = "Microsoft.MachineLearningServices.RunStatusChanged"
IMAGE_PUSHED = "Microsoft.ContainerRegistry.ImagePushed"

LOCAL_TOPIC = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers"


def data_field(data: dict[str, Any], name: str, default: Any = None) -> Any:
    """A field of an event's ``data`` whatever its casing: the Azure docs' samples of the Machine Learning
    events write ``ModelName`` / ``RunStatus``, the SDKs' event models ``modelName`` / ``runStatus``."""
    if name in data:
        return data[name]
    lowered = name.lower()
    return next((value for key, value in data.items() if key.lower() == lowered), default)


def _mapping(value: Any) -> dict[str, Any] | None:
    return cast(dict[str, Any], value) if isinstance(value, dict) else None


def model_registration(data: Any) -> dict[str, Any] | None:
    """``{run_id, name, version, tags}`` of a ModelRegistered event the factory caused (tag ``run_id``), else None."""
    event = _mapping(data)
    tags = _mapping(data_field(event, "ModelTags")) if event is not None else None
    if event is None or tags is None or not isinstance(tags.get("run_id"), str) or not tags["run_id"]:
        return None
    return {"run_id": tags["run_id"], "name": data_field(event, "ModelName"),
            "version": str(data_field(event, "ModelVersion")), "tags": tags}


def training_failure(data: Any) -> dict[str, Any] | None:
    """``{run_id, error}`` of a RunStatusChanged event saying a factory run's training failed, else None."""
    event = _mapping(data)
    if event is None or str(data_field(event, "RunStatus", "")).lower() != "failed":
        return None
    tags, props = _mapping(data_field(event, "RunTags")) or {}, _mapping(data_field(event, "RunProperties")) or {}
    run_id = tags.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        return None
    return {"run_id": run_id, "error": str(props.get("error", ""))[:2000]}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _event(topic: str, subject: str, event_type: str, data: dict[str, Any], data_version: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "topic": topic,
        "subject": subject,
        "eventType": event_type,
        "eventTime": _now(),
        "data": data,
        "dataVersion": data_version,
        "metadataVersion": "1",
    }


def blob_created(account: str, container: str, blob: str, url: str, etag: str, size: int,
                 content_type: str = "text/csv") -> dict[str, Any]:
    """``Microsoft.Storage.BlobCreated`` for a block blob."""
    topic = f"{LOCAL_TOPIC}/Microsoft.Storage/storageAccounts/{account}"
    data = {
        "api": "PutBlob",
        "clientRequestId": str(uuid.uuid4()),
        "requestId": str(uuid.uuid4()),
        "eTag": etag,
        "contentType": content_type,
        "contentLength": size,
        "blobType": "BlockBlob",
        "url": url,
        "sequencer": f"{int(datetime.now(UTC).timestamp() * 1e6):032x}",
        "storageDiagnostics": {"batchId": str(uuid.uuid4())},
    }
    return _event(topic, f"/blobServices/default/containers/{container}/blobs/{blob}", BLOB_CREATED, data, "")


def model_registered(workspace: str, name: str, version: str | int, tags: dict[str, str],
                     properties: dict[str, str] | None = None) -> dict[str, Any]:
    """``Microsoft.MachineLearningServices.ModelRegistered``."""
    topic = f"{LOCAL_TOPIC}/Microsoft.MachineLearningServices/workspaces/{workspace}"
    data = {"ModelName": name, "ModelVersion": str(version), "ModelTags": dict(tags),
            "ModelProperties": dict(properties or {})}
    return _event(topic, f"models/{name}:{version}", MODEL_REGISTERED, data, "2")


def run_status_changed(workspace: str, experiment: str, run_id: str, status: str,
                       tags: dict[str, str], error: str = "") -> dict[str, Any]:
    """``Microsoft.MachineLearningServices.RunStatusChanged``."""
    topic = f"{LOCAL_TOPIC}/Microsoft.MachineLearningServices/workspaces/{workspace}"
    experiment_id = str(uuid.uuid5(uuid.NAMESPACE_URL, experiment))
    data = {
        "ExperimentId": experiment_id,
        "ExperimentName": experiment,
        "RunId": run_id,
        "RunType": "azureml.PipelineRun",
        "RunTags": dict(tags),
        "RunProperties": {"error": error} if error else {},
        "RunStatus": status,
    }
    return _event(topic, f"experiments/{experiment_id}/{run_id}", RUN_STATUS_CHANGED, data, "2")


def image_pushed(registry: str, host: str, repository: str, tag: str, digest: str, size: int,
                 media_type: str = "application/vnd.oci.image.manifest.v1+json") -> dict[str, Any]:
    """``Microsoft.ContainerRegistry.ImagePushed``."""
    topic = f"{LOCAL_TOPIC}/Microsoft.ContainerRegistry/registries/{registry}"
    data = {
        "id": str(uuid.uuid4()),
        "timestamp": _now(),
        "action": "push",
        "target": {"mediaType": media_type, "size": size, "digest": digest, "length": size,
                   "repository": repository, "tag": tag},
        "request": {"id": str(uuid.uuid4()), "host": host, "method": "PUT", "useragent": "model-factory"},
    }
    return _event(topic, f"{repository}:{tag}", IMAGE_PUSHED, data, "1.0")


def publish(events: list[dict[str, Any]], endpoint: str | None = None, timeout: float = 10.0,
            key: str | None = None) -> bool:
    """POST events (Event Grid schema array) to the local topic endpoint.

    ``endpoint`` defaults to ``FACTORY_EVENTGRID_ENDPOINT``, ``key`` to ``FACTORY_EVENTGRID_KEY``; with no endpoint
    configured nothing is sent and False is returned. Raises ``OSError`` when the endpoint does not accept the
    events (401 without the right key).
    """
    endpoint = endpoint or os.environ.get("FACTORY_EVENTGRID_ENDPOINT", "")
    key = key if key is not None else os.environ.get("FACTORY_EVENTGRID_KEY", "")
    if not endpoint:
        log.debug("no Event Grid endpoint configured; %d event(s) not published", len(events))
        return False
    body = json.dumps(events).encode()
    headers = {"Content-Type": "application/json", "aeg-event-type": "Notification"}
    if key:
        headers["aeg-sas-key"] = key
    req = urllib.request.Request(endpoint, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        if resp.status >= 300:
            raise OSError(f"Event Grid endpoint {endpoint} answered {resp.status}")
    return True
