"""Reading the smoke module's report (its twin's reported properties) as a ``SmokeVerdict``."""

from __future__ import annotations

from typing import Any

from factory.ports import EdgeStatus, SmokeVerdict

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
        failures=failure_list,
        p50_ms=float(reported.get("p50Ms", 0.0) or 0.0),
        p95_ms=float(reported.get("p95Ms", 0.0) or 0.0),
        reason=str(reported.get("reason", "") or ""),
    )


def _failures(verdict: dict[str, Any]) -> list[Any]:
    return list(verdict.get("failures") or [])


def combine_verdicts(run_id: str, devices: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> SmokeVerdict:
    """One verdict for a run smoke-tested on several devices: pass only when every device passed; the worst
    latency; each device's device, arch, status, latency, bytes pulled and reason in ``devices``."""
    rows: list[dict[str, Any]] = []
    for device, verdict in zip(devices, verdicts, strict=True):
        rows.append({"device": device.get("device", ""), "arch": device.get("arch", ""),
                     "status": str(verdict.get("status", "fail")), "cases": int(verdict.get("cases", 0) or 0),
                     "p50_ms": float(verdict.get("p50_ms", 0.0) or 0.0),
                     "p95_ms": float(verdict.get("p95_ms", 0.0) or 0.0),
                     "bytes_pulled": int(verdict.get("bytes_pulled", 0) or 0),
                     "reason": str(verdict.get("reason", "") or "")})
    bad = [row for row in rows if row["status"] != "pass"]
    status = EdgeStatus.PASS if rows and not bad else (
        EdgeStatus.TIMEOUT if bad and all(r["status"] == "timeout" for r in bad) else EdgeStatus.FAIL)
    failures = [f"{row['device'] or 'device'} ({row['arch'] or 'any'}): {failure}"
                for row, verdict in zip(rows, verdicts, strict=True) for failure in _failures(verdict)]
    reason = "; ".join(f"{row['device'] or 'device'} ({row['arch'] or 'any'}) {row['status']}: {row['reason']}"
                       for row in bad)
    return SmokeVerdict(run_id=run_id, status=status, cases=sum(r["cases"] for r in rows), failures=failures,
                        p50_ms=max((r["p50_ms"] for r in rows), default=0.0),
                        p95_ms=max((r["p95_ms"] for r in rows), default=0.0), reason=reason,
                        bytes_pulled=sum(r["bytes_pulled"] for r in rows), devices=rows)
