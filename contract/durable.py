"""The Durable names: orchestrators, activities, events, instance ids and statuses.

Orchestrators call activities and sub-orchestrations, and wait for events, only by these names.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any


class Orchestrator(StrEnum):
    """The orchestrator functions, by their registered names."""

    RUN = "model_factory_run"
    EDGE_SMOKE = "edge_smoke"
    EDGE_POOL = "edge_pool_smoke"
    APPROVAL = "approval"


class Activity(StrEnum):
    """The activity functions, by their registered names (``function_app/activities.py``, ``edge.py``)."""

    PLAN_RUN = "plan_run"
    VALIDATE_DATA = "validate_data"
    SUBMIT_TRAINING = "submit_training"
    EVALUATE_GATE = "evaluate_gate"
    BUILD_IMAGE = "build_image"
    REQUEST_APPROVAL = "request_approval"
    VERIFY_APPROVAL = "verify_approval"
    ATTEST_EDGE = "attest_edge"
    ATTEST_APPROVAL = "attest_approval"
    PROMOTE = "promote"
    RECONCILE_MODEL = "reconcile_model"
    RECONCILE_IMAGE = "reconcile_image"
    EDGE_DEVICES = "edge_devices"
    EDGE_LEASE = "edge_lease"
    EDGE_RELEASE = "edge_release"
    EDGE_SNAPSHOT = "edge_snapshot"
    EDGE_DEPLOY = "edge_deploy"
    EDGE_READ_REPORT = "edge_read_report"
    EDGE_RESTORE = "edge_restore"


class Event(StrEnum):
    """External events raised on orchestrations (by the Event Grid triggers and the approval endpoint)."""

    MODEL_REGISTERED = "ModelRegistered"
    TRAINING_FAILED = "TrainingFailed"
    IMAGE_PUSHED = "ImagePushed"
    APPROVAL_DECISION = "ApprovalDecision"


class RuntimeStatus(StrEnum):
    """A Durable instance's runtime status (``OrchestrationRuntimeStatus`` by name), with its groups beside it
    (as Dagster keeps its run statuses)."""

    PENDING = "Pending"
    RUNNING = "Running"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    COMPLETED = "Completed"
    FAILED = "Failed"
    TERMINATED = "Terminated"
    CANCELED = "Canceled"
    SUSPENDED = "Suspended"

    @property
    def in_flight(self) -> bool:
        return self in IN_FLIGHT_STATUSES

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATUSES


IN_FLIGHT_STATUSES = frozenset({RuntimeStatus.PENDING, RuntimeStatus.RUNNING, RuntimeStatus.CONTINUED_AS_NEW})
FINISHED_STATUSES = frozenset({RuntimeStatus.COMPLETED, RuntimeStatus.FAILED, RuntimeStatus.TERMINATED,
                               RuntimeStatus.CANCELED})


def runtime_status(name: Any) -> RuntimeStatus | None:
    """The status a Durable status names (None for none or a name this contract does not know)."""
    try:
        return RuntimeStatus(name) if name else None
    except ValueError:
        return None


EDGE_SUFFIX = "-edge"
APPROVAL_SUFFIX = "-approval"


def edge_instance_id(run_id: str) -> str:
    """The instance id of a run's edge smoke sub-orchestration."""
    return f"{run_id}{EDGE_SUFFIX}"


def approval_instance_id(run_id: str) -> str:
    """The instance id of a run's approval sub-orchestration (decisions are raised on it)."""
    return f"{run_id}{APPROVAL_SUFFIX}"


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
