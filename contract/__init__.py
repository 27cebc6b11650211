"""The run contract: every record and name that crosses a process boundary (Durable payloads, events, the
run summary the HTTP API serves), the ``Record`` base they share and the enums they use. A leaf: it imports
nothing of the project, so the orchestrators, the domain, the bindings and the CLI all read one contract."""

from contract.durable import (
    APPROVAL_SUFFIX,
    EDGE_SUFFIX,
    FINISHED_STATUSES,
    IN_FLIGHT_STATUSES,
    Activity,
    Event,
    Orchestrator,
    RuntimeStatus,
    approval_instance_id,
    edge_instance_id,
    runtime_status,
    unwrap_json,
)
from contract.edge import DeviceVerdict, EdgeDevice, EdgeStatus, SmokeVerdict, combine_verdicts
from contract.kinds import LINK_DECISIONS, ArtifactFormat, DataKind, Decision, Precision, Task
from contract.payloads import (
    ApprovalAttestation,
    ApprovalNotice,
    ApprovalOutcome,
    ApprovalRequest,
    Attested,
    BuildRequest,
    DataCheck,
    DecisionCheck,
    DecisionEvent,
    DecisionToVerify,
    EdgeAttestation,
    EdgeDeployment,
    EdgeDeviceRequest,
    EdgeLease,
    EdgeLeaseRequest,
    EdgePlan,
    EdgePlanRequest,
    EdgeReleased,
    EdgeReport,
    EdgeRestored,
    EdgeRestoreRequest,
    EdgeSmokeRequest,
    GateRequest,
    GateVerdict,
    ImageBuild,
    ImagePushedEvent,
    ModelRegisteredEvent,
    ModulesContent,
    Promotion,
    PromotionRequest,
    Reconciled,
    ReconcileRequest,
    TrainingFailedEvent,
    TrainingJob,
)
from contract.record import Record
from contract.runs import (
    STAGES,
    ApprovalStage,
    Champion,
    DataFacts,
    GateFacts,
    Lineage,
    RefusedDecision,
    RunPlan,
    RunProgress,
    RunRequest,
    RunResult,
    RunStatus,
    Stage,
)
from contract.summary import RUNNING, ApprovalOutcomeFacts, ApprovalState, RunSummary

__all__ = [
    "APPROVAL_SUFFIX", "EDGE_SUFFIX", "FINISHED_STATUSES", "IN_FLIGHT_STATUSES", "LINK_DECISIONS", "RUNNING",
    "STAGES", "Activity", "approval_instance_id", "ApprovalAttestation", "ApprovalNotice", "ApprovalOutcome",
    "ApprovalOutcomeFacts", "ApprovalRequest", "ApprovalStage", "ApprovalState", "ArtifactFormat", "Attested",
    "BuildRequest", "Champion", "combine_verdicts", "DataCheck", "DataFacts", "DataKind", "Decision", "DecisionCheck",
    "DecisionEvent", "DecisionToVerify", "DeviceVerdict", "edge_instance_id", "EdgeAttestation", "EdgeDeployment",
    "EdgeDevice", "EdgeDeviceRequest", "EdgeLease", "EdgeLeaseRequest", "EdgePlan", "EdgePlanRequest", "EdgeReleased",
    "EdgeReport", "EdgeRestored", "EdgeRestoreRequest", "EdgeSmokeRequest", "EdgeStatus", "Event", "GateFacts",
    "GateRequest", "GateVerdict", "ImageBuild", "ImagePushedEvent", "Lineage", "ModelRegisteredEvent",
    "ModulesContent", "Orchestrator", "Precision", "Promotion", "PromotionRequest", "Reconciled", "ReconcileRequest",
    "Record", "RefusedDecision", "RunPlan", "RunProgress", "RunRequest", "RunResult", "RunStatus", "RunSummary",
    "runtime_status", "RuntimeStatus", "SmokeVerdict", "Stage", "Task", "TrainingFailedEvent", "TrainingJob",
    "unwrap_json"
]
