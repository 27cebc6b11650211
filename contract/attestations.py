"""The predicates of the factory's own attestations (approval, edge smoke, rolled back): written by
``factory.supplychain.statements`` and read back from a registry by ``factory.supplychain.chain`` as these
records. A predicate read from a registry is hostile until parsed: ``Record.maybe`` gives None for one of
another shape, and a field of the wrong type is reported, never trusted (``text``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contract.edge import DeviceVerdict, SmokeVerdict
from contract.record import Record


def text(value: Any) -> str:
    """A predicate's value as shown to a person: ``?`` when missing."""
    return "?" if value in (None, "") else str(value)


@dataclass(frozen=True)
class ApprovalPredicate(Record):
    """Who decided about exactly which digest of which run and version, and when."""

    run_id: str = ""
    model: str = ""
    version: str = ""
    digest: str = ""
    approver: str = ""
    decided_at: str = ""
    decision: str = ""
    request_id: str = ""

    def approves(self, digest: str) -> bool:
        return self.digest == digest and self.decision == "approve"


@dataclass(frozen=True)
class EdgeSmokePredicate(Record):
    """The edge smoke verdict of one run's image and, per device, its architecture, status and latencies."""

    run_id: str = ""
    model: str = ""
    version: str = ""
    status: str = ""
    cases: int = 0
    failures: list[str] = field(default_factory=list[str])
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    reason: str = ""
    bytes_pulled: int = 0
    devices: list[DeviceVerdict] = field(default_factory=list[DeviceVerdict])

    @classmethod
    def of(cls, run_id: str, model: str, version: str, verdict: SmokeVerdict) -> EdgeSmokePredicate:
        return cls(run_id=run_id, model=model, version=version, status=str(verdict.status), cases=verdict.cases,
                   failures=list(verdict.failures), p50_ms=verdict.p50_ms, p95_ms=verdict.p95_ms,
                   reason=verdict.reason, bytes_pulled=verdict.bytes_pulled, devices=list(verdict.devices))

    @property
    def passed(self) -> bool:
        return self.status == "pass"


@dataclass(frozen=True)
class RolledBackPredicate(Record):
    """The fleet rollout of ``run_id`` took this version back off the fleet: why, when, and the version production
    went back to (``""``: none before it)."""

    run_id: str = ""
    model: str = ""
    version: str = ""
    previous_version: str = ""
    reason: str = ""
    rolled_back_at: str = ""
