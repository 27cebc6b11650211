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

from orchestrations.contract import Activity, EdgeSmokeRequest, EdgeStatus, SmokeVerdict

RESTORE_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5000, max_number_of_attempts=4)
LEASE_MARGIN_S = 900  # the lease outlives the polling window by this much: deploy (image pulls) and restore


def _status(context: df.DurableOrchestrationContext, run_id: str, step: str, **extra: Any) -> None:
    context.set_custom_status({"stage": "edge_smoke", "step": step, "run_id": run_id, **extra})


def edge_smoke(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Lease the device, deploy, poll, restore, release; always restores what was on the device once something
    was deployed. A restore that keeps failing fails the orchestration and keeps the lease until it expires, so
    no other run takes the half-restored deployment for the device's own."""
    request: dict[str, Any] = context.get_input() or {}
    smoke = EdgeSmokeRequest.from_dict(request)
    run_id = smoke.run_id
    poll = timedelta(seconds=float(smoke.poll_seconds))
    timeout_s = float(smoke.timeout_seconds)
    wait_s = float(smoke.wait_seconds)

    _status(context, run_id, "waiting for the edge device")
    wait_deadline = context.current_utc_datetime + timedelta(seconds=wait_s)
    device = {"device": smoke.device}
    lease_request = {"run_id": run_id, "ttl_seconds": timeout_s + LEASE_MARGIN_S, **device}
    while True:
        try:
            lease = yield context.call_activity(Activity.EDGE_LEASE, lease_request)
        except Exception as exc:
            return SmokeVerdict(run_id, EdgeStatus.FAIL, reason=f"could not lease the edge device: {exc}").to_dict()
        if lease.get("acquired"):
            break
        if context.current_utc_datetime >= wait_deadline:
            return SmokeVerdict(run_id, EdgeStatus.FAIL, reason=(
                f"the edge device stayed busy for {wait_s:g} s (lease held by run {lease.get('holder') or '?'} "
                f"until {lease.get('expires_at') or '?'})")).to_dict()
        yield context.create_timer(min(context.current_utc_datetime + poll, wait_deadline))

    verdict = yield from _smoke_on_leased_device(context, request, run_id, poll, timeout_s)
    yield context.call_activity_with_retry(Activity.EDGE_RELEASE, RESTORE_RETRY, {"run_id": run_id, **device})
    _status(context, run_id, "done", verdict=verdict["status"])
    return verdict


def _smoke_on_leased_device(context: df.DurableOrchestrationContext, request: dict[str, Any], run_id: str,
                            poll: timedelta, timeout_s: float) -> Generator[Any, Any, dict[str, Any]]:
    """Snapshot → deploy → poll → restore; returns the verdict dict (use with ``yield from``)."""
    _status(context, run_id, "snapshot")
    device = {"device": request.get("device", "")}
    try:
        previous = yield context.call_activity(Activity.EDGE_SNAPSHOT, {"run_id": run_id, **device})
    except Exception as exc:  # the device could not be read: nothing was changed, nothing to restore
        reason = f"could not read the edge device's deployment: {exc}"
        return SmokeVerdict(run_id, EdgeStatus.FAIL, reason=reason).to_dict()

    verdict: dict[str, Any]
    try:
        _status(context, run_id, "deploying")
        deployed = yield context.call_activity(Activity.EDGE_DEPLOY, request)
        deadline = context.current_utc_datetime + timedelta(seconds=timeout_s)
        polls = 0
        last: dict[str, Any] = {}
        while True:
            _status(context, run_id, "waiting for the smoke module", polls=polls, module=deployed.get("module"))
            yield context.create_timer(min(context.current_utc_datetime + poll, deadline))
            last = yield context.call_activity(Activity.EDGE_READ_REPORT, {"run_id": run_id, **device})
            polls += 1
            if last.get("verdict"):
                verdict = last["verdict"]
                break
            if context.current_utc_datetime >= deadline:
                verdict = SmokeVerdict(run_id, EdgeStatus.TIMEOUT, reason=(
                    f"the smoke module reported no result for run {run_id} within {timeout_s:g} s "
                    f"({polls} polls); last report: {last.get('seen') or 'none'}; "
                    f"modules: {last.get('modules') or 'unknown'}")).to_dict()
                break
    except Exception as exc:  # deploy or read failed: still restore the device below
        verdict = SmokeVerdict(run_id, EdgeStatus.FAIL, reason=f"edge smoke test could not run: {exc}").to_dict()

    _status(context, run_id, "restoring", verdict=verdict["status"])
    yield context.call_activity_with_retry(Activity.EDGE_RESTORE, RESTORE_RETRY,
                                           {"run_id": run_id, "content": previous, **device})
    return verdict
