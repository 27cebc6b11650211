"""The quality gate: a registered version's metrics against the model's gated metrics and against production.

Pure logic: the caller passes the challenger's metrics, the champion's (the production version's, if any)
and the model's ``Gate`` from ``model.yaml``. The factory knows no metric names: each gated metric brings its
direction, its bounds and its allowed regression against production.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from contract import Champion
from factory.model_spec import Gate, GatedMetric


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: list[str] = field(default_factory=list[str])
    champion: Champion | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reasons": list(self.reasons),
                "champion": self.champion.to_dict() if self.champion else None}


def _usable(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


def _regression(spec: GatedMetric, ours: float, champion: Champion) -> str | None:
    """Why ``ours`` is worse than the champion's value beyond the metric's allowance, or None."""
    theirs = champion.metrics.get(spec.name)
    if spec.max_regression is None or not _usable(theirs):
        return None
    worse = (theirs - ours) if spec.higher_is_better else (ours - theirs)
    if worse <= abs(theirs) * spec.max_regression:
        return None
    return (f"{spec.name} {ours:.4g} is worse than production version {champion.version} ({theirs:.4g}) "
            f"by more than {spec.max_regression:.0%} ({'higher' if spec.higher_is_better else 'lower'} is better)")


def evaluate(metrics: dict[str, float], gate: Gate, champion: Champion | None = None) -> GateResult:
    """Check every gated metric of ``gate`` in ``metrics``: present, within ``min``/``max``, and (when a
    ``champion`` is given) not worse than the champion's beyond its allowance."""
    reasons: list[str] = []
    for spec in gate.metrics.values():
        value = metrics.get(spec.name)
        if not _usable(value):
            reasons.append(f"metric {spec.name} missing from the registered version")
            continue
        if spec.min is not None and value < spec.min:
            reasons.append(f"{spec.name} {value:.4g} is below the minimum {spec.min:g}")
        if spec.max is not None and value > spec.max:
            reasons.append(f"{spec.name} {value:.4g} is above the maximum {spec.max:g}")
        if champion and (why := _regression(spec, value, champion)):
            reasons.append(why)
    return GateResult(passed=not reasons, reasons=reasons, champion=champion)
