"""A factory run: its request, its identity, its stages and its lineage record.

Everything here is pure data, so orchestrators can use it while replaying.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from factory.ports import Record


class Stage(StrEnum):
    """A run's stage (``custom_status.stage``); ``done`` and ``ended`` follow the last one reached."""

    VALIDATE = "validate"
    TRAIN = "train"
    GATE = "gate"
    PACKAGE = "package"
    EDGE = "edge"
    APPROVAL = "approval"
    PROMOTE = "promote"
    ROLLOUT = "rollout"  # only for a model whose model.yaml declares rollout: (docs/edge.md, "Fleet rollout")
    DONE = "done"  # the run succeeded
    ENDED = "ended"  # the run was rejected or failed


class RunStatus(StrEnum):
    """How a run ended: Succeeded, Rejected (the factory said no), Failed (something broke or timed out) or
    RolledBack (promoted, then a fleet rollout gate stopped it and the fleet went back to the previous version)."""

    SUCCEEDED = "Succeeded"
    REJECTED = "Rejected"
    FAILED = "Failed"
    ROLLED_BACK = "RolledBack"


STAGES: tuple[Stage, ...] = tuple(s for s in Stage if s not in (Stage.DONE, Stage.ENDED))
INCOMING_CONTAINER = "incoming"
_SUBJECT = re.compile(r"^/blobServices/default/containers/(?P<container>[^/]+)/blobs/(?P<blob>.+)$")


def unwrap_json(value: Any) -> Any:
    """A Durable payload as the sender meant it.

    The Python SDK client JSON-encodes inputs and event data and then posts them as JSON again, so the
    Durable extension stores (and hands back) a JSON *string* holding the JSON text; decode that layer.
    """
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _digest(*parts: str, length: int = 20) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:length]


def run_id_for_blob(model: str, url: str, etag: str) -> str:
    """A blob-triggered run's instance id: the same blob version always gives the same run."""
    return f"{model}-{_digest(url, etag.strip(chr(34)))}"


def run_id_for_key(model: str, idempotency_key: str) -> str:
    """A manual run's instance id from the caller's idempotency key."""
    return f"{model}-m{_digest(model, idempotency_key, length=19)}"


def blob_in_subject(subject: str) -> tuple[str, str] | None:
    """``(container, blob name)`` of a Blob Storage event subject, or None when it is not one."""
    match = _SUBJECT.match(subject)
    return (match["container"], match["blob"]) if match else None


# What an upload's name ends with: a CSV (``data.kind: table``) or an archive (``data.kind: images``). The same
# list filters BlobCreated in infra/eventgrid-subscriptions.json.
UPLOAD_SUFFIXES = (".csv", ".zip", ".tar.gz")


def is_upload(blob_name: str) -> bool:
    """Whether an incoming blob's name is an upload's (case-insensitive, as Event Grid's filter)."""
    return blob_name.lower().endswith(UPLOAD_SUFFIXES)


def model_of_blob(blob_name: str) -> str | None:
    """The model an incoming blob is for: its first path segment (``<model>/<file>.csv``)."""
    head, sep, rest = blob_name.partition("/")
    return head if sep and head and rest else None


@dataclass(frozen=True)
class RunRequest(Record):
    """What starts a run (from BlobCreated or POST /api/runs)."""

    run_id: str
    model: str
    data_uri: str
    data_etag: str = ""
    trigger: str = "blob"  # blob | manual
    data_sha256: str = ""  # set once validated: data_uri is then the pinned copy of these bytes
    source_commit: str = ""


@dataclass(frozen=True)
class RunPlan(Record):
    """Per-run settings resolved by an activity (model.yaml + app settings), so the orchestrator does no I/O."""

    training_timeout_s: int
    build_timeout_s: int
    edge_poll_s: int
    edge_timeout_s: int
    approval_timeout_s: int
    image_repository: str
    key_metric: str
    edge_max_p95_ms: float | None = None
    activity_attempts: int = 3  # each activity of the run, tried this many times (they are idempotent)
    activity_retry_ms: int = 5000  # the delay between attempts (the Python SDK has no back-off coefficient)
    approvers: list[str] = field(default_factory=list[str])  # model.yaml approval.approvers; empty = any link holder
    rollout: bool = False  # model.yaml declares rollout: the run goes on to the fleet after promote
    rollout_summary: str = ""  # where the version will go: the fleet condition and the rings' shares


@dataclass
class Lineage(Record):
    """The run's lineage record: data → training job → model version → image → edge → approval → prod."""

    model: str = ""
    data_uri: str = ""
    data_etag: str = ""
    source_commit: str = ""  # the commit the model's code came from (CI passes it for a code-change retrain)
    data_sha256: str = ""  # of the validated bytes (training checks it)
    data_pinned_uri: str = ""  # the run-scoped copy of the validated bytes that training reads
    data: dict[str, Any] = field(default_factory=dict[str, Any])  # {blob, size, sha256, rows | per_label, uploaded_at}
    training_job: str = ""
    model_version: str = ""
    metrics: dict[str, float] = field(default_factory=dict[str, float])
    gate: dict[str, Any] = field(default_factory=dict[str, Any])
    image: str = ""
    image_digest: str = ""
    update_bytes: dict[str, int] = field(default_factory=dict[str, int])  # per arch: what a device on update_from pulls
    update_from: str = ""  # the prod image compared with ("" when no version is in production: the whole image)
    image_bytes: dict[str, int] = field(default_factory=dict[str, int])  # per arch: compressed size
    layers_shared: dict[str, int] = field(default_factory=dict[str, int])  # per arch: layers update_from has
    layers_total: dict[str, int] = field(default_factory=dict[str, int])  # per arch: the image's layers
    edge: dict[str, Any] = field(default_factory=dict[str, Any])
    approver: str = ""
    decision: str = ""
    approval_refused: list[dict[str, str]] = field(default_factory=list[dict[str, str]])  # decisions refused
    decision_reason: str = ""  # the approver's reason for a reject (optional)
    prod_ref: str = ""
    rollout_plan: str = ""  # where the version will go after promote (the approval card shows it)
    rollout: dict[str, Any] = field(default_factory=dict[str, Any])  # the fleet rollout's RolloutResult
    stage_seconds: dict[str, float] = field(default_factory=dict[str, float])


@dataclass(frozen=True)
class RunResult(Record):
    """How a run ended: Succeeded, Rejected (the factory said no) or Failed (something broke)."""

    status: RunStatus
    stage: Stage  # the stage it ended at
    reason: str
    lineage: dict[str, Any]
