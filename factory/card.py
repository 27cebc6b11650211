"""The model card: what an approver sees before deciding, assembled from the run's lineage record and the
registries (through the ports), never in a binding.

``build_card`` is pure (fixture lineage records in, a ``ModelCard`` out); ``assemble_card`` looks up what the
lineage does not hold (the model's gate declarations, the production version, the training job's address).
A fact the lineage does not hold is None, and pages show it as "not measured".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from factory.fields import as_dict, as_list
from factory.ports import ModelVersion

if TYPE_CHECKING:
    from factory.catalog import Gate

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


@dataclass
class ModelCard:
    run_id: str
    model: str
    version: str
    task: str
    key_metric: str
    data: dict[str, Any]
    metrics: list[MetricRow]
    gate_passed: bool | None
    gate_reasons: list[str]
    champion: str | None  # "version N" of the production version compared against; None: first version
    precision: str | None
    edge: list[dict[str, Any]]
    image: dict[str, Any]
    source_commit: str | None
    training_job: dict[str, str]
    expires_at: str | None
    seconds_left: float | None
    decisions: list[dict[str, str]] = field(default_factory=list[dict[str, str]])
    stage: str = ""
    rollout: str = ""  # where the version goes after promote (fleet and rings); "" when the model has no rollout

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


def _edge_rows(edge: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per device: ``edge.devices`` when the lineage has per-device verdicts, else the one verdict."""
    if not edge:
        return []
    devices = as_list(edge.get("devices"))
    rows: list[dict[str, Any]] = []
    for item in devices or [edge]:
        d = as_dict(item)
        if not isinstance(item, dict):
            continue
        rows.append({"device": d.get("device") or d.get("device_id"), "arch": d.get("arch") or d.get("platform"),
                     "status": d.get("status"), "p50_ms": _number(d.get("p50_ms")), "p95_ms": _number(d.get("p95_ms")),
                     "requests": d.get("requests", d.get("cases")), "bytes_pulled": d.get("bytes_pulled"),
                     "reason": d.get("reason") or ""})
    return rows


def _per_arch(value: Any) -> dict[str, int] | None:
    """``{arch: count}`` from the lineage's per-architecture dict (a bare number: ``{"": n}``, one architecture);
    None when absent or not numbers."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"": value}
    mapping = as_dict(value)
    if not mapping:
        return None
    items = {str(k): v for k, v in mapping.items()}
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in items.values()):
        return None
    return dict(sorted(items.items()))


def _image_facts(lineage: dict[str, Any]) -> dict[str, Any]:
    """Per architecture (``""`` = one architecture), each None when the lineage does not hold it: the image's
    compressed size, what a device holding ``update_from`` pulls, and how many layers it has of the total."""
    return {"ref": lineage.get("image") or None, "digest": lineage.get("image_digest") or None,
            "size_bytes": _per_arch(lineage.get("image_bytes")),
            "update_bytes": _per_arch(lineage.get("update_bytes")),
            "update_from": lineage.get("update_from") or None,
            "layers_shared": _per_arch(lineage.get("layers_shared")),
            "layers_total": _per_arch(lineage.get("layers_total"))}


def _decisions(lineage: dict[str, Any], approval: dict[str, Any]) -> list[dict[str, str]]:
    """Who decided already: the decision that closed the approval, and every refused attempt."""
    out: list[dict[str, str]] = []
    decided = as_dict(approval.get("outcome"))
    decision = str(decided.get("decision") or lineage.get("decision") or "")
    if decision:
        out.append({"who": str(decided.get("approver") or lineage.get("approver") or ""), "decision": decision,
                    "at": str(decided.get("decided_at", "")), "reason": str(decided.get("reason") or
                                                                            lineage.get("decision_reason") or "")})
    for item in as_list(approval.get("refused")) or as_list(lineage.get("approval_refused")):
        refused = as_dict(item)
        if isinstance(item, dict):
            who = str(refused.get("approver") or "")
            if who and not refused.get("attested"):
                who = f"{who} (claimed, not verified)"
            asked = str(refused.get("decision") or "")
            out.append({"who": who or "unknown", "decision": f"refused {asked}".strip(),
                        "at": str(refused.get("at", "")), "reason": str(refused.get("reason", ""))})
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


def build_card(run_id: str, lineage: dict[str, Any], *, task: str = "", rules: list[GateRule] | None = None,
               key_metric: str = "", production: ModelVersion | None = None, job: dict[str, str] | None = None,
               approval: dict[str, Any] | None = None, now: float = 0.0, stage: str = "") -> ModelCard:
    """The card for one run from its lineage record. ``production`` is today's production version, used only
    when the gate compared against none (the gate's champion is what the run was measured against)."""
    rules = rules or []
    approval = approval or {}
    gate = as_dict(lineage.get("gate"))
    champion: dict[str, Any] | None = as_dict(gate.get("champion")) if isinstance(gate.get("champion"), dict) else None
    if champion is None and production is not None and production.version != str(lineage.get("model_version")):
        champion = {"version": production.version, "metrics": production.metrics}
    prod_metrics = as_dict((champion or {}).get("metrics"))
    metrics = {str(k): _number(v) for k, v in as_dict(lineage.get("metrics")).items()}
    by_rule = {r.name: r for r in rules}
    names = list(dict.fromkeys([*by_rule, *metrics]))
    rows = [_metric_row(n, metrics.get(n), _number(prod_metrics.get(n)), by_rule.get(n)) for n in names]
    data = as_dict(lineage.get("data"))
    return ModelCard(
        run_id=run_id, model=str(lineage.get("model", "")), version=str(lineage.get("model_version", "")),
        task=task, key_metric=key_metric, data={"blob": data.get("blob") or lineage.get("data_uri") or None, **{
            k: data.get(k) for k in ("size", "sha256", "rows", "per_label", "uploaded_at")}},
        metrics=rows, gate_passed=gate.get("passed"), gate_reasons=[str(r) for r in as_list(gate.get("reasons"))],
        champion=f"version {champion['version']}" if champion else None,
        precision=lineage.get("precision") or None, edge=_edge_rows(as_dict(lineage.get("edge"))),
        image=_image_facts(lineage), source_commit=lineage.get("source_commit") or None,
        training_job={"name": str(lineage.get("training_job") or ""), **(job or {})},
        rollout=str(lineage.get("rollout_plan") or ""),
        expires_at=approval.get("expires_at"), seconds_left=seconds_left(approval.get("expires_at"), now),
        decisions=_decisions(lineage, approval), stage=stage)


def assemble_card(run: dict[str, Any], approval: dict[str, Any] | None = None, now: float | None = None) -> ModelCard:
    """The card for a run summary (``GET /api/runs/{id}`` shape): catalog, production version and training
    job address through the ports. A lookup that fails leaves its facts out (the card still shows)."""
    import time

    from factory import lookups
    from factory.backends import services

    lineage = as_dict(run.get("lineage"))
    model = str(lineage.get("model", ""))
    spec = lookups.catalog().get(model)
    job: dict[str, str] = {}
    try:
        production = services().model_registry.production(model) if model else None
    except Exception:  # noqa: BLE001 - a view: the card says what it could not look up
        production = None
    name = str(lineage.get("training_job") or "")
    if name:
        try:
            job = services().trainer.job_link(name)
        except Exception:  # noqa: BLE001
            job = {}
    return build_card(run.get("run_id", ""), lineage, task=spec.task if spec else "",
                      rules=gate_rules(spec.gate) if spec else [], key_metric=spec.key_metric if spec else "",
                      production=production, job=job, approval=approval,
                      now=time.time() if now is None else now, stage=run.get("stage") or "")
