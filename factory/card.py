"""The model card: what an approver sees before deciding, assembled from the run's ``RunSummary`` (its typed
lineage) and the registries (through the ports), never in a binding.

``build_card`` is pure (a typed ``Lineage`` in, a ``ModelCard`` out); ``assemble_card`` looks up what the
lineage does not hold (the model's gate declarations, the production version, the training job's address).
A fact the lineage does not hold is None, and pages show it as "not measured".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from contract import (
    ApprovalOutcomeFacts,
    ApprovalState,
    Champion,
    DataFacts,
    DeviceVerdict,
    JobLink,
    Lineage,
    RunSummary,
    SignatureFacts,
    SmokeVerdict,
)
from factory.ports import ModelVersion
from factory.rollout.inventory import RingSize, ring_sizes

if TYPE_CHECKING:
    from factory.model_spec import Gate

_LOWER_IS_BETTER_FALLBACK = frozenset({"rmse", "mae", "mse", "log_loss"})  # only for catalogs without directions


@dataclass(frozen=True)
class GateRule:
    """One gated metric: its direction, fixed bounds and the regression allowed against production."""

    name: str
    higher_is_better: bool = True
    min: float | None = None
    max: float | None = None
    max_regression: float | None = None

    def threshold_text(self) -> str:
        parts: list[str] = []
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        if self.max_regression is not None:
            parts.append(f"at most {self.max_regression:.0%} worse than production")
        return ", ".join(parts) or "no bound"


@dataclass(frozen=True)
class MetricRow:
    """One metric of the version under decision, beside production's value."""

    name: str
    value: float | None
    production: float | None
    delta: float | None  # value - production
    better: bool | None  # the delta goes the metric's good way (None: no production value)
    gated: bool
    threshold: str
    passed: bool | None  # None: not gated or not measured


@dataclass(frozen=True)
class EdgeRow:
    """One device's smoke test on the card; ``requests`` is the requests scored (each case ``repeat`` times)."""

    device: str | None
    arch: str | None
    status: str
    p50_ms: float | None
    p95_ms: float | None
    requests: int | None
    bytes_pulled: int | None
    reason: str = ""


@dataclass(frozen=True)
class ImageRow:
    """The image per architecture (``""`` = one architecture); each None when the lineage does not hold it."""

    ref: str | None = None
    digest: str | None = None
    size_bytes: dict[str, int] | None = None
    update_bytes: dict[str, int] | None = None
    update_from: str | None = None
    layers_shared: dict[str, int] | None = None
    layers_total: dict[str, int] | None = None


@dataclass(frozen=True)
class DecisionRow:
    """Who decided (or tried to): the decision that closed the approval, or a refused attempt."""

    who: str
    decision: str
    at: str
    reason: str = ""


@dataclass(frozen=True)
class TrainingLink:
    """The training job by name, where a person sees it and the version it registered (``JobLink``; empty when
    not looked up)."""

    name: str = ""
    label: str = ""
    url: str = ""
    version_url: str = ""


@dataclass
class ModelCard:
    run_id: str
    model: str
    version: str
    task: str
    key_metric: str
    data: DataFacts
    metrics: list[MetricRow]
    gate_passed: bool | None
    gate_reasons: list[str]
    champion: str | None  # "version N" of the production version compared against; None: first version
    precision: str | None
    edge: list[EdgeRow]
    image: ImageRow
    source_commit: str | None
    training_job: TrainingLink
    expires_at: str | None
    seconds_left: float | None
    decisions: list[DecisionRow] = field(default_factory=list[DecisionRow])
    stage: str = ""
    rollout: str = ""  # where the version goes after promote (fleet and rings); "" when the model has no rollout
    fleet: str = ""  # the declared rollout's fleet condition ("" when the model declares no rollout)
    rings: list[RingSize] | None = None  # devices per ring now; None: no rollout, or the fleet could not be read
    signature: SignatureFacts | None = None  # the image's signature and attestations (None: not signed yet)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


REASON_MAX = 500


def clean_reason(text: Any) -> str:
    """An approver's reason as the lineage keeps it: text only, control characters dropped, at most 500 chars."""
    if not isinstance(text, str):
        return ""
    kept = "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in text)
    return kept.strip()[:REASON_MAX]


def gate_rules(gate: Gate | None) -> list[GateRule]:
    """The gated metrics of a catalog ``Gate``, each with its direction, bounds and regression allowance."""
    if gate is None:
        return []
    return [GateRule(name, bool(m.higher_is_better), m.min, m.max, m.max_regression)
            for name, m in gate.metrics.items()]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def _metric_row(name: str, value: float | None, prod: float | None, rule: GateRule | None) -> MetricRow:
    higher = rule.higher_is_better if rule else name not in _LOWER_IS_BETTER_FALLBACK
    delta = None if value is None or prod is None else value - prod
    better = None if delta is None else (delta >= 0 if higher else delta <= 0)
    passed: bool | None = None
    if rule and value is not None:
        passed = (rule.min is None or value >= rule.min) and (rule.max is None or value <= rule.max)
        if prod is not None and rule.max_regression is not None:
            worse = (prod - value) if higher else (value - prod)
            passed = passed and worse <= abs(prod) * rule.max_regression
    elif rule:
        passed = False  # gated but missing from the registered version
    return MetricRow(name, value, prod, delta, better, rule is not None,
                     rule.threshold_text() if rule else "not gated", passed)


def _edge_rows(edge: SmokeVerdict | None) -> list[EdgeRow]:
    """One row per device: ``edge.devices`` when the lineage has per-device verdicts, else the one verdict."""
    if edge is None:
        return []
    devices = edge.devices or [DeviceVerdict(status=edge.status, cases=edge.cases, requests=edge.requests,
                                             p50_ms=edge.p50_ms, p95_ms=edge.p95_ms,
                                             bytes_pulled=edge.bytes_pulled, reason=edge.reason)]
    return [EdgeRow(device=d.device or None, arch=d.arch or None, status=str(d.status), p50_ms=_number(d.p50_ms),
                    p95_ms=_number(d.p95_ms), requests=d.requests or None, bytes_pulled=d.bytes_pulled,
                    reason=d.reason) for d in devices]


def _per_arch(value: dict[str, int] | int) -> dict[str, int] | None:
    """``{arch: count}`` from the lineage's per-architecture dict (a bare number: ``{"": n}``, one architecture);
    None when absent or not numbers."""
    mapping: dict[str, Any] = {"": value} if isinstance(value, int) else dict(value)
    if not mapping or not all(isinstance(v, int) and not isinstance(v, bool) for v in mapping.values()):
        return None
    return dict(sorted((str(k), int(v)) for k, v in mapping.items()))


def _image_facts(lineage: Lineage) -> ImageRow:
    """Per architecture (``""`` = one architecture), each None when the lineage does not hold it: the image's
    compressed size, what a device holding ``update_from`` pulls, and how many layers it has of the total."""
    return ImageRow(ref=lineage.image or None, digest=lineage.image_digest or None,
                    size_bytes=_per_arch(lineage.image_bytes), update_bytes=_per_arch(lineage.update_bytes),
                    update_from=lineage.update_from or None, layers_shared=_per_arch(lineage.layers_shared),
                    layers_total=_per_arch(lineage.layers_total))


def _decisions(lineage: Lineage, approval: ApprovalState) -> list[DecisionRow]:
    """Who decided already: the decision that closed the approval, and every refused attempt."""
    out: list[DecisionRow] = []
    decided = approval.outcome or ApprovalOutcomeFacts()
    decision = decided.decision or lineage.decision
    if decision:
        out.append(DecisionRow(who=decided.approver or lineage.approver, decision=str(decision),
                               at=decided.decided_at, reason=decided.decision_reason or lineage.decision_reason))
    for refused in approval.refused or lineage.approval_refused:
        who = refused.approver
        if who and not refused.attested:
            who = f"{who} (claimed, not verified)"
        out.append(DecisionRow(who=who or "unknown", decision=f"refused {refused.decision}".strip(), at=refused.at,
                               reason=refused.reason))
    return out


def seconds_left(expires_at: str | None, now: float) -> float | None:
    if not expires_at:
        return None
    try:
        when = datetime.fromisoformat(str(expires_at))
    except ValueError:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def build_card(run_id: str, lineage: Lineage, *, task: str = "", rules: list[GateRule] | None = None,
               key_metric: str = "", production: ModelVersion | None = None, job: JobLink | None = None,
               approval: ApprovalState | None = None, now: float = 0.0, stage: str = "") -> ModelCard:
    """The card for one run from its lineage record. ``production`` is today's production version, used only
    when the gate compared against none (the gate's champion is what the run was measured against)."""
    rules = rules or []
    approval = approval or ApprovalState()
    champion = lineage.gate.champion
    if champion is None and production is not None and production.version != lineage.model_version:
        champion = Champion(production.version, production.metrics)
    prod_metrics = champion.metrics if champion else {}
    metrics = {str(k): _number(v) for k, v in lineage.metrics.items()}
    by_rule = {r.name: r for r in rules}
    names = list(dict.fromkeys([*by_rule, *metrics]))
    rows = [_metric_row(n, metrics.get(n), _number(prod_metrics.get(n)), by_rule.get(n)) for n in names]
    data = replace(lineage.data, blob=lineage.data.blob or lineage.data_uri)
    expires_at = approval.expires_at or None
    return ModelCard(
        run_id=run_id, model=lineage.model, version=lineage.model_version, task=task, key_metric=key_metric,
        data=data, metrics=rows, gate_passed=lineage.gate.passed, gate_reasons=list(lineage.gate.reasons),
        champion=f"version {champion.version}" if champion else None,
        precision=lineage.precision.value if lineage.precision else None, edge=_edge_rows(lineage.edge),
        image=_image_facts(lineage), source_commit=lineage.source_commit or None,
        training_job=TrainingLink(lineage.training_job, job.label, job.url, job.version_url) if job else TrainingLink(
            lineage.training_job), rollout=lineage.rollout_plan, expires_at=expires_at,
        seconds_left=seconds_left(expires_at, now),
        decisions=_decisions(lineage, approval), stage=stage, signature=lineage.signature)


def assemble_card(run: RunSummary, approval: ApprovalState | None = None, now: float | None = None) -> ModelCard:
    """The card for a run summary: catalog, production version and training job address through the ports.
    A lookup that fails leaves its facts out (the card still shows)."""
    import time

    from factory import lookups
    from factory.backends import services
    from factory.edge.manifest import module_name

    lineage = run.lineage
    model = lineage.model
    spec = lookups.catalog().get(model)
    job: JobLink | None = None
    try:
        production = services().model_registry.production(model) if model else None
    except Exception:  # noqa: BLE001 - a view: the card says what it could not look up
        production = None
    if lineage.training_job:
        try:
            job = services().trainer.job_link(lineage.training_job, lineage.model_version)
        except Exception:  # noqa: BLE001
            job = None
    card = build_card(run.run_id, lineage, task=spec.task if spec else "",
                      rules=gate_rules(spec.gate) if spec else [], key_metric=spec.key_metric if spec else "",
                      production=production, job=job, approval=approval,
                      now=time.time() if now is None else now, stage=run.stage or "")
    if spec is None or spec.rollout is None:
        return card
    try:
        reports = services().fleet.device_reports(spec.rollout.fleet, module_name(model))
        rings = ring_sizes(spec.rollout, reports)
    except Exception:  # noqa: BLE001 - the fleet could not be read: the card says the ring sizes are not known
        rings = None
    return replace(card, fleet=spec.rollout.fleet, rings=rings)
