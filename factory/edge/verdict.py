"""Reading the smoke module's report (its twin's reported properties) as a ``SmokeVerdict``."""

from __future__ import annotations

from typing import Any

from contract import EdgeStatus, SmokeVerdict

FINAL_STATUSES = (EdgeStatus.PASS, EdgeStatus.FAIL)


def verdict_from_reported(run_id: str, reported: dict[str, Any]) -> SmokeVerdict | None:
    """The verdict the smoke module reported for ``run_id``; None while it has not finished that run
    (no report yet, a report for an earlier run, or ``status: running``)."""
    if reported.get("runId") != run_id or reported.get("status") not in FINAL_STATUSES:
        return None
    failures: dict[str, Any] | list[Any] = reported.get("failures") or {}
    if isinstance(failures, dict):
        failure_list = [str(v) for _, v in sorted(failures.items())]
    else:
        failure_list = [str(v) for v in failures]
    return SmokeVerdict(
        run_id=run_id,
        status=EdgeStatus(reported["status"]),
        cases=int(reported.get("cases", 0) or 0),
        requests=int(reported.get("requests", 0) or 0),
        failures=failure_list,
        p50_ms=float(reported.get("p50Ms", 0.0) or 0.0),
        p95_ms=float(reported.get("p95Ms", 0.0) or 0.0),
        reason=str(reported.get("reason", "") or ""),
    )
