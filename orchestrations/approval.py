"""The approval sub-orchestration: signed links out, one decision back, or a timeout (= reject)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrations.waiting import wait_for_any_event


def approval(context: Any):
    """Input ``{run_id, model, version, digest, timeout_s}``; output ``{decision, approver, decided_at, request_id}``.

    The first decision taken closes the approval; ``request_id`` names the HTTP request that made it, so
    of two simultaneous clicks exactly one is told "recorded" and the other "already closed".

    ``decision`` is approve, reject or timeout. A decision event whose version or digest is not this
    request's is ignored (the HTTP endpoint already refuses such links; this is defence in depth).
    """
    req = context.get_input()
    deadline = context.current_utc_datetime + timedelta(seconds=req["timeout_s"])
    links = yield context.call_activity("request_approval", {**req, "expires_at": int(deadline.timestamp())})
    context.set_custom_status({"stage": "waiting for approval", "links": links, "expires_at": deadline.isoformat()})
    while True:
        remaining = (deadline - context.current_utc_datetime).total_seconds()
        name, event = yield from wait_for_any_event(context, ["ApprovalDecision"], max(remaining, 0))
        if name is None:
            context.set_custom_status({"stage": "timed out"})
            return {"decision": "timeout", "approver": "", "decided_at": deadline.isoformat()}
        if event.get("version") == req["version"] and event.get("digest") == req["digest"]:
            context.set_custom_status({"stage": "decided", "decision": event["decision"]})
            return {"decision": event["decision"], "approver": event.get("approver", ""),
                    "decided_at": context.current_utc_datetime.isoformat(), "request_id": event.get("request_id", "")}
