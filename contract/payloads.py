"""Every activity and event payload: what passes between orchestrators, activities, event triggers and
HTTP endpoints, as records whose dict forms are the payloads on the wire. Pure data: safe while replaying."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contract.edge import SmokeVerdict
from contract.kinds import Decision, Precision
from contract.record import Record
from contract.runs import AttestationRef, Champion, DataFacts, Lineage, RefusedDecision, SignatureFacts


@dataclass(frozen=True)
class TrainingJob(Record):
    """A submitted training pipeline job (AML pipeline job or local pipeline run)."""

    job_name: str
    status: str  # NotStarted | Running | Completed | Failed | Canceled
    model: str = ""
    run_id: str = ""
    error: str = ""


@dataclass(frozen=True)
class JobLink(Record):
    """Where a person sees a training job (Azure ML studio, or locally the run's page in the stack's MLflow UI)
    and the model version it registered (``version_url``); a url is empty when there is no page for it."""

    label: str
    url: str = ""
    version_url: str = ""


# --- activity inputs and results, in stage order (plan_run: RunRequest → RunPlan) ---------------------------


@dataclass(frozen=True)
class DataCheck(Record):
    """``validate_data`` (input ``RunRequest``): the uploaded data against the model's schema. When ``ok``,
    ``pinned_uri`` is the run-scoped copy of exactly the validated bytes (``sha256``), which training reads."""

    ok: bool
    etag: str = ""
    size: int = 0
    errors: list[str] = field(default_factory=list[str])
    sha256: str = ""
    version_id: str = ""  # the source blob's versionId, where versioning is on
    source_uri: str = ""
    pinned_uri: str = ""
    facts: DataFacts = field(default_factory=DataFacts)  # for the model card


# submit_training: RunRequest (data_uri = the pinned copy, with its etag and sha256) → TrainingJob


@dataclass(frozen=True)
class GateRequest(Record):
    """``evaluate_gate`` input: the registered version to judge."""

    model: str
    version: str


@dataclass(frozen=True)
class GateVerdict(Record):
    """``evaluate_gate`` result: the version's metrics, the production version it was compared against (if
    any) and, for an ONNX artifact, the precision it was kept in."""

    passed: bool
    reasons: list[str] = field(default_factory=list[str])
    champion: Champion | None = None
    metrics: dict[str, float] = field(default_factory=dict[str, float])
    precision: Precision | None = None


@dataclass(frozen=True)
class BuildRequest(Record):
    """``build_image`` input."""

    run_id: str
    model: str
    version: str
    repository: str
    source_commit: str = ""
    data_uri: str = ""  # the pinned data the version was trained on, and its sha256 (the provenance's input)
    data_sha256: str = ""
    training_job: str = ""


@dataclass(frozen=True)
class ImageBuild(Record):
    """``build_image`` result: ``image`` (``registry/repository@digest``) and ``digest`` when verified and
    pushed; ``reason`` and ``logs`` when verification failed (nothing stored)."""

    ok: bool
    image: str = ""
    digest: str = ""
    reason: str = ""
    logs: str = ""
    update_bytes: dict[str, int] = field(default_factory=dict[str, int])  # per arch: what a device on update_from pulls
    update_from: str = ""  # the prod image compared with ("": none in production, the whole image)
    image_bytes: dict[str, int] = field(default_factory=dict[str, int])  # per arch: compressed size
    layers_shared: dict[str, int] = field(default_factory=dict[str, int])  # per arch: layers update_from has
    layers_total: dict[str, int] = field(default_factory=dict[str, int])  # per arch: the image's layers
    signature: SignatureFacts | None = None  # what signing and attesting the pushed image made


@dataclass(frozen=True)
class ApprovalRequest(Record):
    """The ``approval`` sub-orchestration's input; ``request_approval`` gets it with ``expires_at`` set, sends
    the signed links to the notifier and returns an ``ApprovalNotice`` (never the links: they stay out of
    the Durable history). Output: ``ApprovalOutcome``."""

    run_id: str
    model: str
    version: str
    digest: str
    timeout_s: int
    expires_at: int = 0  # unix time; set by the orchestrator from its deadline
    approvers: list[str] = field(default_factory=list[str])  # model.yaml approval.approvers; empty = any link holder
    lineage: Lineage | None = None  # the run's lineage so far: its model card


@dataclass(frozen=True)
class ApprovalNotice(Record):
    """``request_approval`` result: the approver was notified; the links expire at ``expires_at``."""

    notified: bool
    expires_at: int = 0


@dataclass(frozen=True)
class DecisionToVerify(Record):
    """``verify_approval`` input: one ``ApprovalDecision`` event's data, as raised (any shape), and the request."""

    request: ApprovalRequest
    event: Any = None


@dataclass(frozen=True)
class DecisionCheck(Record):
    """``verify_approval`` result: ``accepted`` with the decision and the attested approver, or the reason."""

    accepted: bool
    decision: str = ""
    approver: str = ""
    request_id: str = ""
    reason: str = ""  # why a decision was refused
    decision_reason: str = ""  # the approver's own reason (a reject's, optional)
    attested: bool = False  # a refusal's approver was established by the approval endpoint (else only claimed)


@dataclass(frozen=True)
class ApprovalOutcome(Record):
    """How an approval closed; ``request_id`` names the HTTP request whose decision was taken."""

    decision: Decision
    approver: str = ""
    decided_at: str = ""
    request_id: str = ""
    refused: list[RefusedDecision] = field(default_factory=list[RefusedDecision])
    decision_reason: str = ""  # the reason a reject gave (optional)


@dataclass(frozen=True)
class PromotionRequest(Record):
    """``promote`` input: the tested image, by digest, and where it goes in prod."""

    model: str
    version: str
    image: str
    repository: str


@dataclass(frozen=True)
class Promotion(Record):
    """``promote`` result: the prod reference (``registry/repository:v<version>@digest``)."""

    prod_ref: str


# --- the register step's output (registered.json, which the local pipeline runner reads) --------------------


@dataclass(frozen=True)
class Registration(Record):
    """The register stage's output (``registered.json``): the version it registered with its tags, and whether
    this run id had registered it already (``reused``: a retried pipeline registers nothing new)."""

    name: str
    version: str
    tags: dict[str, str] = field(default_factory=dict[str, str])
    reused: bool = False


# --- external events' data ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRegisteredEvent(Record):
    """``ModelRegistered`` on the run named in the version's ``run_id`` tag."""

    name: str
    version: str
    tags: dict[str, str] = field(default_factory=dict[str, str])


@dataclass(frozen=True)
class TrainingFailedEvent(Record):
    """``TrainingFailed`` on the run whose pipeline failed."""

    status: str = "Failed"
    error: str = ""


@dataclass(frozen=True)
class ImagePushedEvent(Record):
    """``ImagePushed`` on the run named by the image's tag."""

    repository: str = ""
    tag: str = ""
    digest: str = ""


@dataclass(frozen=True)
class DecisionEvent(Record):
    """``ApprovalDecision`` on the approval instance, as the approval endpoint raises it: the signed link's
    fields (``link``: run_id, decision, v, d, exp, sig) and an HMAC ``attestation`` of the approver the
    endpoint established. The run believes none of it until ``verify_approval`` has checked it
    (``factory.decision``): anyone able to raise events can send any shape."""

    decision: Decision
    approver: str = ""
    request_id: str = ""
    link: dict[str, str] = field(default_factory=dict[str, str])
    attestation: str = ""
    decision_reason: str = ""  # the approver's reason for a reject, from the page's form


@dataclass(frozen=True)
class ApprovalAttestation(Record):
    """``attest_approval`` input: an approve the run accepted (``verify_approval``), for exactly this image
    digest, version and run; the activity signs it into the image's attestations (what promotion requires)."""

    run_id: str
    model: str
    version: str
    image: str  # registry/repository@digest in the dev registry
    digest: str
    approver: str
    decided_at: str
    request_id: str = ""


@dataclass(frozen=True)
class EdgeAttestation(Record):
    """``attest_edge`` input: the edge smoke verdict (per device) of exactly this image digest; the activity
    signs it into the image's attestations."""

    run_id: str
    model: str
    version: str
    image: str  # registry/repository@digest in the dev registry
    digest: str
    verdict: SmokeVerdict


@dataclass(frozen=True)
class Attested(Record):
    """``attest_edge``/``attest_approval`` result: the attestation's predicate type, stored beside ``image``,
    and the digest of its envelope there."""

    image: str
    predicate_type: str
    envelope_digest: str = ""

    def ref(self) -> AttestationRef:
        return AttestationRef(self.predicate_type, self.envelope_digest)


# reconcile_model / reconcile_image (a late ModelRegistered / ImagePushed: factory/reconciling.py)
@dataclass(frozen=True)
class ReconcileRequest(Record):
    """What to look for: the run's model version (tag ``run_id``) or its image (``repository:<run_id>``)."""

    run_id: str
    model: str = ""
    repository: str = ""


@dataclass(frozen=True)
class Reconciled(Record):
    """``found``: ``event`` is the payload the missing event would have carried."""

    found: bool
    event: dict[str, Any] = field(default_factory=dict[str, Any])
