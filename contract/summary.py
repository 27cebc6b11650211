"""The run summary: the one record every reader takes (the HTTP API writes it; the card, the history, the
pages and the CLI read it). It answers for itself (``in_flight``, ``outcome``, ``waiting_for_approval``), so
nobody outside it compares status strings."""

from __future__ import annotations

from dataclasses import dataclass, field

from contract.durable import RuntimeStatus
from contract.kinds import Decision
from contract.record import Record
from contract.runs import ApprovalStage, Lineage, RefusedDecision, RunStatus, Stage

RUNNING = "running"  # the outcome of a run still in flight


@dataclass(frozen=True)
class ApprovalOutcomeFacts(Record):
    """How a closed approval closed, as its sub-orchestration returned it (``ApprovalOutcome``'s fields)."""

    decision: Decision | None = None
    approver: str = ""
    decided_at: str = ""
    request_id: str = ""
    decision_reason: str = ""


@dataclass(frozen=True)
class ApprovalState(Record):
    """A run's approval sub-orchestration as the status API shows it: its runtime status and its custom
    status (stage, expiry while waiting, the refused attempts); ``outcome`` once it closed."""

    runtime_status: RuntimeStatus | None = None
    stage: ApprovalStage | None = None
    expires_at: str = ""  # ISO 8601, while waiting
    expires_at_unix: int = 0
    decision: Decision | None = None  # once decided
    refused: list[RefusedDecision] = field(default_factory=list[RefusedDecision])
    outcome: ApprovalOutcomeFacts | None = None

    @property
    def running(self) -> bool:
        return self.runtime_status is RuntimeStatus.RUNNING

    @property
    def waiting(self) -> bool:
        """Open and asking for a decision (its links are valid until ``expires_at``)."""
        return self.running and self.stage is ApprovalStage.WAITING


@dataclass(frozen=True)
class RunSummary(Record):
    """One run as ``GET /api/runs[/{id}]`` shows it: its Durable status, its stage (or the one it ended at),
    its result and reason, its lineage and (``GET /api/runs/{id}``) its approval."""

    run_id: str
    runtime_status: RuntimeStatus | None = None
    created: str = ""  # ISO 8601
    updated: str = ""
    stage: Stage | None = None
    result: RunStatus | None = None
    ended_at_stage: Stage | None = None
    reason: str = ""
    lineage: Lineage = field(default_factory=Lineage)
    approval: ApprovalState | None = None

    @property
    def in_flight(self) -> bool:
        return self.runtime_status is not None and self.runtime_status.in_flight

    @property
    def has_ended(self) -> bool:
        """The run will not change any more (Completed, Failed, Terminated)."""
        return self.runtime_status is not None and self.runtime_status.finished

    @property
    def outcome(self) -> str:
        """Succeeded | Rejected | Failed | RolledBack, or ``running`` while in flight (a terminated instance counts
        as Failed)."""
        if self.result is not None:
            return self.result.value
        return RUNNING if self.in_flight else RunStatus.FAILED.value

    @property
    def current_stage(self) -> Stage | None:
        """The stage the run is in, or the one it ended at."""
        return self.ended_at_stage or self.stage

    @property
    def waiting_for_approval(self) -> bool:
        """In flight at the approval stage."""
        return self.in_flight and self.stage is Stage.APPROVAL
