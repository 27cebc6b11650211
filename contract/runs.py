"""A run's records: its request, plan, stages, result and lineage (what the orchestrator writes)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from contract.edge import SmokeVerdict
from contract.kinds import Decision, Precision
from contract.record import Record
from contract.rollout import RolloutResult


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


STAGES: tuple[Stage, ...] = tuple(s for s in Stage if s not in (Stage.DONE, Stage.ENDED))


class ApprovalStage(StrEnum):
    """The approval sub-orchestration's ``custom_status.stage``."""

    WAITING = "waiting for approval"
    DECIDED = "decided"
    TIMED_OUT = "timed out"


class RunStatus(StrEnum):
    """How a run ended: Succeeded, Rejected (the factory said no), Failed (something broke or timed out) or
    RolledBack (promoted, then a fleet rollout gate stopped it and the fleet went back to the previous version)."""

    SUCCEEDED = "Succeeded"
    REJECTED = "Rejected"
    FAILED = "Failed"
    ROLLED_BACK = "RolledBack"


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
    reconcile_after_s: int = 120  # a late ModelRegistered / ImagePushed: ask the registry after this long
    rollout: bool = False  # model.yaml declares rollout: the run goes on to the fleet after promote
    rollout_summary: str = ""  # where the version will go: the fleet condition and the rings' shares


@dataclass(frozen=True)
class DataFacts(Record):
    """What the model card says about an upload: blob, bytes, sha256, upload time and, for a table, its data
    rows; for an image archive, its images (or boxes) per label."""

    blob: str = ""
    size: int | None = None
    sha256: str = ""
    uploaded_at: str = ""
    rows: int | None = None
    per_label: dict[str, int] | None = None


@dataclass(frozen=True)
class Champion(Record):
    """The production version a candidate was compared against, with its metrics."""

    version: str = ""
    metrics: dict[str, float] = field(default_factory=dict[str, float])


@dataclass(frozen=True)
class GateFacts(Record):
    """The quality gate's verdict as the lineage keeps it (``passed`` None: not reached)."""

    passed: bool | None = None
    reasons: list[str] = field(default_factory=list[str])
    champion: Champion | None = None


@dataclass(frozen=True)
class AttestationRef(Record):
    """One signed attestation beside the image: its predicate type and the digest of its DSSE envelope blob in
    the image's ``.att`` manifest."""

    predicate_type: str = ""
    envelope_digest: str = ""


@dataclass(frozen=True)
class SignatureFacts(Record):
    """The image's signature as the factory made it: the key (``sha256:`` of its public key), the name it signed
    the digest for, the ``.sig`` and ``.att`` references beside the image, the attestations, and the model
    folder's own signature (model-signing subject digest; "" when the image carries none)."""

    key_id: str = ""
    signed_as: str = ""
    signature_ref: str = ""
    attestation_ref: str = ""
    attestations: list[AttestationRef] = field(default_factory=list[AttestationRef])
    model_digest: str = ""

    def with_attestation(self, ref: AttestationRef) -> SignatureFacts:
        """These facts with ``ref`` in place of an earlier attestation of its predicate type."""
        kept = [a for a in self.attestations if a.predicate_type != ref.predicate_type]
        return replace(self, attestations=[*kept, ref])


@dataclass(frozen=True)
class RefusedDecision(Record):
    """A decision event the run refused (recorded in the approval's status and the lineage): when, why, the
    decision it asked for, and who tried: ``approver`` as the endpoint attested it (``attested``), else as
    the event claimed it (a forged event can claim any name)."""

    at: str = ""
    reason: str = ""
    request_id: str = ""
    approver: str = ""
    attested: bool = False
    decision: str = ""


@dataclass
class Lineage(Record):
    """The run's lineage record: data → training job → model version → image → edge → approval → prod."""

    model: str = ""
    data_uri: str = ""
    data_etag: str = ""
    source_commit: str = ""  # the commit the model's code came from (CI passes it for a code-change retrain)
    data_sha256: str = ""  # of the validated bytes (training checks it)
    data_pinned_uri: str = ""  # the run-scoped copy of the validated bytes that training reads
    data: DataFacts = field(default_factory=DataFacts)
    training_job: str = ""
    model_version: str = ""
    metrics: dict[str, float] = field(default_factory=dict[str, float])
    precision: Precision | None = None  # an ONNX artifact's kept precision (None: not an ONNX model, or unknown)
    gate: GateFacts = field(default_factory=GateFacts)
    image: str = ""
    image_digest: str = ""
    update_bytes: dict[str, int] = field(default_factory=dict[str, int])  # per arch: what a device on update_from pulls
    update_from: str = ""  # the prod image compared with ("" when no version is in production: the whole image)
    image_bytes: dict[str, int] = field(default_factory=dict[str, int])  # per arch: compressed size
    layers_shared: dict[str, int] = field(default_factory=dict[str, int])  # per arch: layers update_from has
    layers_total: dict[str, int] = field(default_factory=dict[str, int])  # per arch: the image's layers
    signature: SignatureFacts | None = None  # the image's signature and attestations (None: not signed yet)
    edge: SmokeVerdict | None = None
    approver: str = ""
    decision: Decision | None = None
    approval_refused: list[RefusedDecision] = field(default_factory=list[RefusedDecision])  # decisions refused
    decision_reason: str = ""  # the approver's reason for a reject (optional)
    prod_ref: str = ""
    rollout_plan: str = ""  # where the version will go after promote (the approval card shows it)
    rollout: RolloutResult | None = None  # the fleet rollout's end (None: no rollout, or not reached)
    stage_seconds: dict[str, float] = field(default_factory=dict[str, float])
    reconciled: list[str] = field(default_factory=list[str])  # events the run did not get and asked for itself


@dataclass(frozen=True)
class RunResult(Record):
    """How a run ended: Succeeded, Rejected (the factory said no) or Failed (something broke)."""

    status: RunStatus
    stage: Stage  # the stage it ended at
    reason: str
    lineage: Lineage


@dataclass(frozen=True)
class RunProgress(Record):
    """The run orchestration's custom status: its stage and lineage so far; once ended, its result and reason."""

    stage: Stage | None = None
    lineage: Lineage = field(default_factory=Lineage)
    result: RunStatus | None = None
    reason: str = ""
