"""The approval sub-orchestration: signed links out, one decision back, or a timeout (= reject)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from orchestrations.contract import Activity, ApprovalOutcome, ApprovalRequest, Decision, DecisionEvent, Event
from orchestrations.waiting import wait_for_any_event


def approval(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Input ``ApprovalRequest``; output ``ApprovalOutcome``.

    The first decision taken closes the approval; ``request_id`` names the HTTP request that made it, so
    of two simultaneous clicks exactly one is told "recorded" and the other "already closed".

    ``decision`` is approve, reject or timeout. A decision event whose version or digest is not this
    request's is ignored (the HTTP endpoint already refuses such links; this is defence in depth).
    """
    req = ApprovalRequest.from_dict(context.get_input())
    deadline = context.current_utc_datetime + timedelta(seconds=req.timeout_s)
    links = yield context.call_activity(Activity.REQUEST_APPROVAL,
                                        replace(req, expires_at=int(deadline.timestamp())).to_dict())
    context.set_custom_status({"stage": "waiting for approval", "links": links, "expires_at": deadline.isoformat()})
    while True:
        remaining = (deadline - context.current_utc_datetime).total_seconds()
        name, data = yield from wait_for_any_event(context, [Event.APPROVAL_DECISION], max(remaining, 0))
        if name is None:
            context.set_custom_status({"stage": "timed out"})
            return ApprovalOutcome(Decision.TIMEOUT, decided_at=deadline.isoformat()).to_dict()
        try:
            event = DecisionEvent.from_dict(data)
        except (AttributeError, TypeError, ValueError):  # not a decision of this contract: ignored
            continue
        if event.version == req.version and event.digest == req.digest:
            context.set_custom_status({"stage": "decided", "decision": event.decision})
            return ApprovalOutcome(event.decision, event.approver, context.current_utc_datetime.isoformat(),
                                   event.request_id).to_dict()
