"""The quality gate: a registered version's metrics against fixed thresholds and against production.

Pure logic: the caller passes the challenger's metrics, the champion's (the production version's, if
any) and the model's gate settings from ``model.yaml``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    champion: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reasons": list(self.reasons), "champion": self.champion}


def evaluate(metrics: dict[str, float], thresholds: dict[str, dict[str, float | None]], primary: str,
             higher_is_better: bool, max_regression: float | None,
             champion: dict[str, Any] | None = None) -> GateResult:
    """Check ``metrics`` against ``thresholds`` (``{metric: {"min": x, "max": y}}``) and the champion.

    ``max_regression`` is the relative worsening of the primary metric allowed against the champion's
    (0.05 = 5 % worse at most); None skips the comparison. ``champion`` is ``{"version", "metrics"}``.
    """
    reasons: list[str] = []
    for name, bounds in thresholds.items():
        value = metrics.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            reasons.append(f"metric {name} missing from the registered version")
            continue
        low, high = bounds.get("min"), bounds.get("max")
        if low is not None and value < low:
            reasons.append(f"{name} {value:.4g} is below the minimum {low:g}")
        if high is not None and value > high:
            reasons.append(f"{name} {value:.4g} is above the maximum {high:g}")
    if champion and max_regression is not None:
        ours, theirs = metrics.get(primary), champion.get("metrics", {}).get(primary)
        if ours is not None and theirs is not None:
            worse = (theirs - ours) if higher_is_better else (ours - theirs)
            allowed = abs(theirs) * max_regression
            if worse > allowed:
                reasons.append(f"{primary} {ours:.4g} is worse than production version {champion.get('version')} "
                               f"({theirs:.4g}) by more than {max_regression:.0%}")
    return GateResult(passed=not reasons, reasons=reasons, champion=champion)
