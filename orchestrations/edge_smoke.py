# pyright: strict, reportMissingTypeStubs=false, reportUnknownMemberType=false
"""The edge smoke test sub-orchestration: lease the device (one smoke test at a time) → snapshot it → deploy
model + smoke module → poll the smoke module's twin on durable timers until it reports for this run, or time
out → restore → release → the verdict.

Input: an ``EdgeSmokeRequest`` (run, model, image by digest, polling and timeouts; optionally the cases, the
smoke image, how long to wait for a busy device, and which pool device: ``edge_pool_smoke`` in
``orchestrations/edge_pool.py`` runs this once per device). Output: a ``SmokeVerdict`` dict; ``status`` is pass, fail
or timeout. Pure: no I/O, no clocks.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from contract import (
    Activity,
    EdgeDeployment,
    EdgeDeviceRequest,
    EdgeLease,
    EdgeLeaseRequest,
    EdgeReport,
    EdgeRestoreRequest,
    EdgeSmokeRequest,
    EdgeStatus,
    ModulesContent,
    SmokeVerdict,
)
from orchestrations.retrying import RetryPlan, carried

RESTORE_ATTEMPTS = 4  # at least: a device left with the test deployment is worse than a slower verdict
LEASE_MARGIN_S = 900  # the lease outlives the polling window by this much: deploy (image pulls) and restore


def _status(context: df.DurableOrchestrationContext, run_id: str, step: str, **extra: Any) -> None:
    context.set_custom_status({"stage": "edge_smoke", "step": step, "run_id": run_id, **extra})


def edge_smoke(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Lease the device, deploy, poll, restore, release; always restores what was on the device once something
    was deployed. A restore that keeps failing fails the orchestration and keeps the lease until it expires, so
    no other run takes the half-restored deployment for the device's own."""
    smoke = EdgeSmokeRequest.from_dict(context.get_input() or {})
    retry = carried(context.get_input())  # lease, snapshot, deploy and read-report: a transient error is retried
    run_id = smoke.run_id
    poll = timedelta(seconds=float(smoke.poll_seconds))
    timeout_s = float(smoke.timeout_seconds)
    wait_s = float(smoke.wait_seconds)

    _status(context, run_id, "waiting for the edge device")
    wait_deadline = context.current_utc_datetime + timedelta(seconds=wait_s)
    lease_request = EdgeLeaseRequest(run_id, ttl_seconds=timeout_s + LEASE_MARGIN_S, device=smoke.device)
    while True:
        try:
            lease = EdgeLease.from_dict((yield context.call_activity_with_retry(
                Activity.EDGE_LEASE, retry.options(), lease_request.to_dict())))
        except Exception as exc:
            return SmokeVerdict(run_id, EdgeStatus.FAIL, reason=f"could not lease the edge device: {exc}").to_dict()
        if lease.acquired:
            break
        if context.current_utc_datetime >= wait_deadline:
            return SmokeVerdict(run_id, EdgeStatus.FAIL, reason=(
                f"the edge device stayed busy for {wait_s:g} s (lease held by run {lease.holder or '?'} "
                f"until {lease.expires_at or '?'})")).to_dict()
        yield context.create_timer(min(context.current_utc_datetime + poll, wait_deadline))

    verdict = yield from _smoke_on_leased_device(context, smoke, poll, timeout_s, retry)
    yield context.call_activity_with_retry(Activity.EDGE_RELEASE, retry.options(RESTORE_ATTEMPTS),
                                           EdgeDeviceRequest(run_id, smoke.device).to_dict())
    _status(context, run_id, "done", verdict=verdict.status)
    return verdict.to_dict()


def _smoke_on_leased_device(context: df.DurableOrchestrationContext, smoke: EdgeSmokeRequest, poll: timedelta,
                            timeout_s: float, retry: RetryPlan) -> Generator[Any, Any, SmokeVerdict]:
    """Snapshot → deploy → poll → restore; returns the verdict (use with ``yield from``)."""
    run_id = smoke.run_id
    device = EdgeDeviceRequest(run_id, smoke.device).to_dict()
    _status(context, run_id, "snapshot")
    try:
        previous: ModulesContent = yield context.call_activity_with_retry(Activity.EDGE_SNAPSHOT, retry.options(),
                                                                          device)
    except Exception as exc:  # the device could not be read: nothing was changed, nothing to restore
        return SmokeVerdict(run_id, EdgeStatus.FAIL, reason=f"could not read the edge device's deployment: {exc}")

    verdict: SmokeVerdict
    try:
        _status(context, run_id, "deploying")
        deployed = EdgeDeployment.from_dict((yield context.call_activity_with_retry(
            Activity.EDGE_DEPLOY, retry.options(), smoke.to_dict())))
        deadline = context.current_utc_datetime + timedelta(seconds=timeout_s)
        polls = 0
        while True:
            _status(context, run_id, "waiting for the smoke module", polls=polls, module=deployed.module)
            yield context.create_timer(min(context.current_utc_datetime + poll, deadline))
            last = EdgeReport.from_dict((yield context.call_activity_with_retry(
                Activity.EDGE_READ_REPORT, retry.options(), device)))
            polls += 1
            if last.verdict:
                verdict = last.verdict
                break
            if context.current_utc_datetime >= deadline:
                verdict = SmokeVerdict(run_id, EdgeStatus.TIMEOUT, reason=(
                    f"the smoke module reported no result for run {run_id} within {timeout_s:g} s "
                    f"({polls} polls); last report: {last.seen or 'none'}; "
                    f"modules: {last.modules or 'unknown'}"))
                break
    except Exception as exc:  # deploy or read failed: still restore the device below
        verdict = SmokeVerdict(run_id, EdgeStatus.FAIL, reason=f"edge smoke test could not run: {exc}")

    _status(context, run_id, "restoring", verdict=verdict.status)
    yield context.call_activity_with_retry(Activity.EDGE_RESTORE, retry.options(RESTORE_ATTEMPTS),
                                           EdgeRestoreRequest(run_id, previous, smoke.device).to_dict())
    return verdict
