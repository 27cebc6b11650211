"""What the dashboard shows, as data: runs filtered, a run's stage timeline, a model's versions and gate-metric
trend, the approvals waiting. Pure functions over run summaries (``GET /api/runs`` shape), plus
``model_history`` which reads the model registry through its port.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from factory.fields import as_dict
from factory.ports import ModelVersion
from factory.runs import STAGES

IN_FLIGHT = ("Running", "Pending", "ContinuedAsNew")
RESULTS = ("Succeeded", "Rejected", "Failed", "RolledBack", "running")


def result_of(run: dict[str, Any]) -> str:
    """Succeeded | Rejected | Failed | RolledBack, or ``running`` while in flight (a terminated instance counts as
    Failed)."""
    if run.get("result"):
        return str(run["result"])
    return "running" if run.get("runtime_status") in IN_FLIGHT else "Failed"


def in_flight(run: dict[str, Any]) -> bool:
    return run.get("runtime_status") in IN_FLIGHT


def stage_of(run: dict[str, Any]) -> str:
    """The stage a run is in, or the one it ended at."""
    return str(run.get("ended_at_stage") or run.get("stage") or "")


def filter_runs(runs: list[dict[str, Any]], model: str = "", result: str = "", stage: str = "") -> list[dict[str, Any]]:
    def keep(run: dict[str, Any]) -> bool:
        lin = as_dict(run.get("lineage"))
        return ((not model or lin.get("model") == model) and (not result or result_of(run) == result)
                and (not stage or stage_of(run) == stage))
    return [r for r in runs if keep(r)]


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class StageBar:
    stage: str
    seconds: float | None  # None: not reached
    live: bool = False


def timeline(run: dict[str, Any], now: float) -> list[StageBar]:
    """One entry per stage: its seconds when done, the seconds so far for the current stage of a run in flight
    (measured from the run's start plus the finished stages), None for a stage not reached."""
    seconds = as_dict(as_dict(run.get("lineage")).get("stage_seconds"))
    current = run.get("stage") if in_flight(run) else None
    bars: list[StageBar] = []
    for stage in STAGES:
        if stage in seconds:
            bars.append(StageBar(stage, float(seconds[stage])))
        elif stage == current:
            started = _time(run.get("created"))
            spent = sum(float(v) for v in seconds.values())
            live = max(0.0, now - started.timestamp() - spent) if started else 0.0
            bars.append(StageBar(stage, round(live, 1), live=True))
        else:
            bars.append(StageBar(stage, None))
    return bars


def lineage_chain(lineage: dict[str, Any]) -> list[tuple[str, str]]:
    """The chain data → training job → model version → image → edge → approval → prod, as (step, value)."""
    edge = as_dict(lineage.get("edge"))
    decision = str(lineage.get("decision") or "")
    if decision and lineage.get("approver"):
        decision += f" by {lineage['approver']}"
    if lineage.get("decision_reason"):
        decision += f": {lineage['decision_reason']}"
    return [("data", str(lineage.get("data_uri") or "")), ("training job", str(lineage.get("training_job") or "")),
            ("model version", str(lineage.get("model_version") or "")), ("image", str(lineage.get("image") or "")),
            ("edge", str(edge.get("status") or "")), ("approval", decision),
            ("prod", str(lineage.get("prod_ref") or ""))]


@dataclass
class ModelHistory:
    name: str
    key_metric: str
    versions: list[ModelVersion] = field(default_factory=list[ModelVersion])
    production: str | None = None
    limits: list[float] = field(default_factory=list[float])

    def trend(self) -> list[tuple[str, float, bool]]:
        """``(version, key metric, is production)`` for each version that has the key metric, oldest first."""
        return [(v.version, float(v.metrics[self.key_metric]), v.version == self.production)
                for v in self.versions if isinstance(v.metrics.get(self.key_metric), int | float)]


def model_history(name: str) -> ModelHistory:
    """The model's registered versions (oldest first), its production version and its gate's bounds on the key
    metric, through the model registry port."""
    from factory import lookups
    from factory.backends import services
    from factory.card import gate_rules

    spec = lookups.catalog()[name]
    registry = services().model_registry
    versions = sorted(registry.versions(name), key=lambda v: int(v.version) if v.version.isdigit() else 0)
    production = registry.production(name)
    rule = next((r for r in gate_rules(spec.gate) if r.name == spec.key_metric), None)
    limits = [x for x in ((rule.min, rule.max) if rule else ()) if x is not None]
    return ModelHistory(name, spec.key_metric, versions, production.version if production else None, limits)


def waiting_approvals(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs in flight at the approval stage."""
    return [r for r in runs if in_flight(r) and r.get("stage") == "approval"]
