"""What the dashboard shows, as data: runs filtered, a run's stage timeline, a model's versions and gate-metric
trend, the approvals waiting. Pure functions over ``RunSummary`` records (``GET /api/runs``), plus
``model_history`` which reads the model registry through its port.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contract import RUNNING, STAGES, Lineage, RunStatus, RunSummary
from factory.ports import ModelVersion

RESULTS = (*(s.value for s in RunStatus), RUNNING)


def filter_runs(runs: list[RunSummary], model: str = "", result: str = "", stage: str = "") -> list[RunSummary]:
    def keep(run: RunSummary) -> bool:
        return ((not model or run.lineage.model == model) and (not result or run.outcome == result)
                and (not stage or (run.current_stage or "") == stage))
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


def timeline(run: RunSummary, now: float) -> list[StageBar]:
    """One entry per stage: its seconds when done, the seconds so far for the current stage of a run in flight
    (measured from the run's start plus the finished stages), None for a stage not reached."""
    seconds = run.lineage.stage_seconds
    current = run.stage if run.in_flight else None
    bars: list[StageBar] = []
    for stage in STAGES:
        if stage in seconds:
            bars.append(StageBar(stage, float(seconds[stage])))
        elif stage == current:
            started = _time(run.created)
            spent = sum(float(v) for v in seconds.values())
            live = max(0.0, now - started.timestamp() - spent) if started else 0.0
            bars.append(StageBar(stage, round(live, 1), live=True))
        else:
            bars.append(StageBar(stage, None))
    return bars


def lineage_chain(lineage: Lineage) -> list[tuple[str, str]]:
    """The chain data → training job → model version → image → edge → approval → prod, as (step, value)."""
    decision = str(lineage.decision or "")
    if decision and lineage.approver:
        decision += f" by {lineage.approver}"
    if lineage.decision_reason:
        decision += f": {lineage.decision_reason}"
    return [("data", lineage.data_uri), ("training job", lineage.training_job),
            ("model version", lineage.model_version), ("image", lineage.image),
            ("edge", str(lineage.edge.status) if lineage.edge else ""), ("approval", decision),
            ("prod", lineage.prod_ref)]


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


def waiting_approvals(runs: list[RunSummary]) -> list[RunSummary]:
    """Runs in flight at the approval stage."""
    return [r for r in runs if r.waiting_for_approval]
