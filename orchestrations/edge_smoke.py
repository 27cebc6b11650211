"""The edge smoke test sub-orchestration: snapshot the device → deploy model + smoke module → poll the smoke
module's twin on durable timers until it reports for this run, or time out → restore → the verdict.

Input: ``{run_id, model, image (registry/repository@sha256:...), poll_seconds, timeout_seconds}`` and
optionally ``cases`` (default: the model folder's sample request and expected response) and ``smoke_image``.
Output: a ``SmokeVerdict`` dict; ``status`` is pass, fail or timeout. Pure: no I/O, no clocks.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from factory.ports import SmokeVerdict

RESTORE_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5000, max_number_of_attempts=4)


def _status(context: Any, run_id: str, step: str, **extra: Any) -> None:
    context.set_custom_status({"stage": "edge_smoke", "step": step, "run_id": run_id, **extra})


def edge_smoke(context: Any):
    """Deploy, poll, restore; always restores what was on the device once something was deployed."""
    request: dict[str, Any] = context.get_input()
    run_id = request["run_id"]
    poll = timedelta(seconds=float(request.get("poll_seconds", 15)))
    timeout_s = float(request.get("timeout_seconds", 1200))

    _status(context, run_id, "snapshot")
    try:
        previous = yield context.call_activity("edge_snapshot", {"run_id": run_id})
    except Exception as exc:  # the device could not be read: nothing was changed, nothing to restore
        return SmokeVerdict(run_id, "fail", reason=f"could not read the edge device's deployment: {exc}").to_dict()

    verdict: dict[str, Any]
    try:
        _status(context, run_id, "deploying")
        deployed = yield context.call_activity("edge_deploy", request)
        deadline = context.current_utc_datetime + timedelta(seconds=timeout_s)
        polls = 0
        last: dict[str, Any] = {}
        while True:
            _status(context, run_id, "waiting for the smoke module", polls=polls, module=deployed.get("module"))
            yield context.create_timer(min(context.current_utc_datetime + poll, deadline))
            last = yield context.call_activity("edge_read_report", {"run_id": run_id})
            polls += 1
            if last.get("verdict"):
                verdict = last["verdict"]
                break
            if context.current_utc_datetime >= deadline:
                verdict = SmokeVerdict(run_id, "timeout", reason=(
                    f"the smoke module reported no result for run {run_id} within {timeout_s:g} s "
                    f"({polls} polls); last report: {last.get('seen') or 'none'}; "
                    f"modules: {last.get('modules') or 'unknown'}")).to_dict()
                break
    except Exception as exc:  # deploy or read failed: still restore the device below
        verdict = SmokeVerdict(run_id, "fail", reason=f"edge smoke test could not run: {exc}").to_dict()

    _status(context, run_id, "restoring", verdict=verdict["status"])
    yield context.call_activity_with_retry("edge_restore", RESTORE_RETRY, {"run_id": run_id, "content": previous})
    _status(context, run_id, "done", verdict=verdict["status"])
    return verdict
