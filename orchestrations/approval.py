# pyright: strict, reportMissingTypeStubs=false, reportUnknownMemberType=false
"""The approval sub-orchestration: signed links out, one verified decision back, or a timeout (= reject)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from datetime import timedelta
from typing import Any, cast

import azure.durable_functions as df
from azure.durable_functions.models.Task import TimerTask

from contract import (
    Activity,
    ApprovalOutcome,
    ApprovalRequest,
    ApprovalStage,
    Decision,
    DecisionCheck,
    DecisionToVerify,
    Event,
    RefusedDecision,
    unwrap_json,
)
from orchestrations.retrying import carried

MAX_REFUSED_RECORDED = 20  # refused attempts kept in the record (a flood of forged events stays bounded)


def _dicts(refused: list[RefusedDecision]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in refused]


def approval(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Input ``ApprovalRequest``; output ``ApprovalOutcome`` (with the reason a reject gave, if any).

    Every ``ApprovalDecision`` event is checked by the ``verify_approval`` activity (the link's HMAC, expiry,
    run, version and digest; the attested approver; the model's approvers): the run trusts no caller's word,
    whatever key it used to raise the event. A refused event is recorded in ``refused`` and the approval keeps
    waiting. The first accepted decision closes it; ``request_id`` names the HTTP request that made it, so of
    two simultaneous clicks exactly one is told "recorded" and the other "already closed".
    ``decision`` is approve, reject or timeout.

    One wait for the event is open at all times, also while an event is being verified: events arriving
    meanwhile queue in ``inbox`` (the SDK keeps only one unawaited event per name, so none may arrive unawaited).
    """
    req = ApprovalRequest.from_dict(context.get_input() or {})
    retry = carried(context.get_input()).options()  # the run's plan: a notifier's 503 does not end the run
    deadline = context.current_utc_datetime + timedelta(seconds=req.timeout_s)
    req = replace(req, expires_at=int(deadline.timestamp()))
    yield context.call_activity_with_retry(Activity.REQUEST_APPROVAL, retry, req.to_dict())
    refused: list[RefusedDecision] = []
    waiting = {"stage": ApprovalStage.WAITING, "expires_at": deadline.isoformat(), "expires_at_unix": req.expires_at}
    context.set_custom_status(waiting)
    timer = cast(TimerTask, context.create_timer(deadline))
    arrival = context.wait_for_external_event(Event.APPROVAL_DECISION)
    inbox: list[Any] = []
    check = None
    while True:
        if check is None and inbox:
            check = context.call_activity_with_retry(Activity.VERIFY_APPROVAL, retry,  # a pure check: safe again
                                                     DecisionToVerify(request=req, event=inbox.pop(0)).to_dict())
        winner = yield context.task_any([arrival, timer] + ([check] if check is not None else []))
        if winner is timer:
            context.set_custom_status({"stage": ApprovalStage.TIMED_OUT, "refused": _dicts(refused)})
            return ApprovalOutcome(Decision.TIMEOUT, decided_at=deadline.isoformat(), refused=refused).to_dict()
        if winner is arrival:
            inbox.append(unwrap_json(arrival.result))
            arrival = context.wait_for_external_event(Event.APPROVAL_DECISION)
            continue
        result, check = DecisionCheck.from_dict(check.result if check is not None else {}), None
        if result.accepted:
            timer.cancel()
            context.set_custom_status({"stage": ApprovalStage.DECIDED, "decision": result.decision,
                                       "refused": _dicts(refused)})
            return ApprovalOutcome(Decision(result.decision), result.approver,
                                   context.current_utc_datetime.isoformat(), result.request_id, refused,
                                   result.decision_reason).to_dict()
        if len(refused) < MAX_REFUSED_RECORDED:
            refused.append(RefusedDecision(context.current_utc_datetime.isoformat(), result.reason,
                                           result.request_id, result.approver, result.attested,
                                           result.decision))
        context.set_custom_status({**waiting, "refused": _dicts(refused)})
