# pyright: strict
"""The rollout's records: what passes between the ``fleet_rollout`` orchestrator, its activities, the gate and
the ``Fleet`` port. Pure data (``Record``: JSON round trip), safe to use while replaying."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Self, TypeVar, cast

from contract.record import Record

R = TypeVar("R", bound=Record)


def _records(kind: type[R], items: Any) -> list[R]:
    """A JSON list of ``kind`` records (``Record.from_dict`` leaves lists of records as dicts)."""
    return [item if isinstance(item, kind) else kind.from_dict(cast(dict[str, Any], item))
            for item in cast(list[Any], items or [])]


class RolloutActivity(StrEnum):
    """The rollout's activity functions (``function_app/rollout.py``), by their registered names."""

    PLAN = "rollout_plan"
    APPLY_RING = "rollout_apply_ring"
    JUDGE_RING = "rollout_judge_ring"
    STANDING = "rollout_standing"
    ROLL_BACK = "rollout_roll_back"
    CONVERGENCE = "rollout_convergence"
    FINISH = "rollout_finish"


FLEET_ROLLOUT = "fleet_rollout"  # the sub-orchestrator's registered name
CONTROL_EVENT = "RolloutControl"  # the external event a person's pause / resume / abort raises on the rollout
CONTROL_ACTIONS = ("pause", "resume", "abort")


def rollout_instance_id(run_id: str) -> str:
    """The instance id of a run's fleet rollout sub-orchestration."""
    return f"{run_id}-rollout"


@dataclass(frozen=True)
class Control(Record):
    """A person's decision on a running rollout (the ``RolloutControl`` event's data)."""

    action: str = ""  # pause | resume | abort
    by: str = ""


class RolloutStatus(StrEnum):
    """How a rollout ended."""

    COMPLETED = "Completed"  # every ring passed its gate
    ROLLED_BACK = "RolledBack"  # a gate failed (or someone aborted): the previous version applies again
    SUPERSEDED = "Superseded"  # a newer version of the model started its own rollout
    FAILED = "Failed"  # the rollout itself broke (the fleet could not be read or written)


@dataclass(frozen=True)
class VersionSignals(Record):
    """What one device's model module reports for one model version: requests served, errors, latency p50/p95
    over its sliding window, and the histogram of its predictions (label or bin -> count)."""

    requests: int = 0
    errors: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    histogram: dict[str, int] = field(default_factory=dict[str, int])


@dataclass(frozen=True)
class DeviceReport(Record):
    """One device as the fleet reads it: its ring bucket, whether it is connected, the version its model module
    reports and the module's state (edgeAgent's ``runtimeStatus``), its own health verdict (``ok`` or why not),
    and its signals per version (kept for the previous version too, so the gate compares like with like)."""

    device: str
    bucket: int = 0
    arch: str = ""
    connected: bool = True
    version: str = ""
    module_status: str = ""  # running | backoff | failed | stopped | unknown | "" (no module yet)
    health: str = "ok"
    signals: dict[str, VersionSignals] = field(default_factory=dict[str, VersionSignals])

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        report = super().from_dict(data)
        signals = {str(k): v if isinstance(v, VersionSignals) else VersionSignals.from_dict(cast(dict[str, Any], v))
                   for k, v in cast(dict[str, Any], data.get("signals") or {}).items()}
        return replace(report, signals=signals)


@dataclass(frozen=True)
class SignalCheck(Record):
    """One gate signal: its value against its bound, whether it passed, and the devices behind it."""

    signal: str
    value: float
    bound: float
    passed: bool
    devices: list[str] = field(default_factory=list[str])
    note: str = ""


@dataclass(frozen=True)
class RingVerdict(Record):
    """The gate's verdict on one ring after its bake time."""

    ring: str
    passed: bool
    checks: list[SignalCheck] = field(default_factory=list[SignalCheck])
    targeted: int = 0
    applied: int = 0
    offline: list[str] = field(default_factory=list[str])

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return replace(super().from_dict(data), checks=_records(SignalCheck, data.get("checks")))

    @property
    def reason(self) -> str:
        failed = [c for c in self.checks if not c.passed]
        return "; ".join(f"{c.signal} {c.value:g} (bound {c.bound:g})"
                         + (f" on {', '.join(c.devices[:5])}" if c.devices else "") for c in failed)


@dataclass(frozen=True)
class RingPlan(Record):
    """One ring of a planned rollout: its IoT Hub configuration id, target condition and gate settings."""

    name: str
    configuration_id: str
    target_condition: str
    bucket_lo: int
    bucket_hi: int
    min_devices: int = 0
    bake_seconds: float = 0.0


@dataclass(frozen=True)
class RolloutRequest(Record):
    """Start a rollout: the promoted version of a model, its prod image by digest."""

    run_id: str
    model: str
    version: str
    image: str  # prod image reference pinned by digest (repo@sha256:...)


@dataclass(frozen=True)
class RolloutPlan(Record):
    """A rollout resolved by an activity (model.yaml + the fleet's configurations), so the orchestrator does no
    I/O: the rings, the previous version and the priority above it, the poll interval and bounds."""

    run_id: str
    model: str
    version: str
    image: str
    module: str = ""
    reporter_image: str = ""  # the fleet reporter each ring's layer runs beside the module ("": none)
    previous_version: str = ""
    priority: int = 0
    refused: str = ""  # why this rollout cannot start (no rollout: declared, image not pinned): nothing changed
    rings: list[RingPlan] = field(default_factory=list[RingPlan])
    fleet: str = ""
    max_failed_percent: float = 20.0
    max_error_rate: float = 0.02
    max_p95_regression: float = 0.5
    max_prediction_shift: float = 0.25
    poll_seconds: float = 30.0
    apply_timeout_s: float = 900.0  # after the bake, how long a ring may wait for min_devices to report
    rollback_timeout_s: float = 1800.0
    tagged_devices: int = 0  # devices that got their bucket tag written while planning

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return replace(super().from_dict(data), rings=_records(RingPlan, data.get("rings")))


@dataclass(frozen=True)
class RingStep(Record):
    """An activity input: the plan and one ring (by index)."""

    plan: RolloutPlan
    ring: int


@dataclass(frozen=True)
class Standing(Record):
    """Whether the rollout may go on: ``superseded_by`` names a newer rollout of the model; ``paused``/
    ``aborted`` are people's decisions through the signed links."""

    superseded_by: str = ""
    paused: bool = False
    aborted: str = ""  # who aborted, and why


@dataclass(frozen=True)
class Convergence(Record):
    """After a rollback: how many of the rolled-out rings' connected devices report the previous version."""

    devices: int = 0
    on_previous: int = 0
    offline: list[str] = field(default_factory=list[str])
    pending: list[str] = field(default_factory=list[str])

    @property
    def converged(self) -> bool:
        return self.on_previous >= self.devices


@dataclass(frozen=True)
class RolloutResult(Record):
    """The rollout's end: status, reason and every ring's verdict in order."""

    run_id: str
    model: str
    version: str
    status: RolloutStatus
    reason: str = ""
    previous_version: str = ""
    rings: list[RingVerdict] = field(default_factory=list[RingVerdict])
    rolled_back_devices: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return replace(super().from_dict(data), rings=_records(RingVerdict, data.get("rings")))


@dataclass(frozen=True)
class RolloutEnd(Record):
    """An activity input: the plan and how the rollout ended."""

    plan: RolloutPlan
    result: RolloutResult


@dataclass(frozen=True)
class ModuleView(Record):
    """One module on one device as the fleet page and ``model-factory fleet`` show it: the model it serves (from
    its twin's desired ``factory`` section), the version the deployments want and the one it reports, edgeAgent's
    runtime status, its own health, and the ring its device falls in for that model's rollout (``""``: none)."""

    module: str
    model: str = ""
    desired: str = ""
    reported: str = ""
    status: str = ""
    health: str = ""
    ring: str = ""


@dataclass(frozen=True)
class FleetDevice(Record):
    """One device of the fleet: its ring bucket (-1: not tagged yet), architecture, connection, when it last
    reported (ISO 8601 UTC; ``""``: never), and its model modules."""

    device: str
    arch: str = ""
    bucket: int = -1
    connected: bool = True
    last_report: str = ""
    modules: list[ModuleView] = field(default_factory=list[ModuleView])

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return replace(super().from_dict(data), modules=_records(ModuleView, data.get("modules")))
