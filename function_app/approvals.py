"""Signed approval links: the confirmation page, the decision, and the admin route that hands links out.

The link's signature is the approver's credential (hence anonymous). The endpoint establishes who the
approver is, then raises ``ApprovalDecision`` carrying the link and an attestation of that approver; the
approval orchestration verifies both itself (``factory.decision``), so the Durable API's keys cannot decide.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.parse
import uuid
from dataclasses import dataclass

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from contract import (
    ApprovalOutcomeFacts,
    ApprovalRequest,
    ApprovalStage,
    ApprovalState,
    Decision,
    Event,
    approval_instance_id,
    unwrap_json,
)
from factory import lookups
from factory.approval import ApprovalClaim, LinkError, approval_links, verify_link
from factory.card import clean_reason
from factory.decision import UNAUTHENTICATED, decision_event
from factory.runs import is_run_id
from function_app import pages
from function_app.starter import RUN_ORCHESTRATOR

bp = df.Blueprint()
log = logging.getLogger("function_app")
PRINCIPAL_HEADER = "x-ms-client-principal-name"  # set by App Service Authentication (Easy Auth)
DECISION_WAIT_SECONDS = 20.0  # how long a POST waits to learn whether its decision was the one taken


def authentication_on() -> bool:
    """App Service Authentication is in front of the app (the platform sets ``WEBSITE_AUTH_ENABLED``; it then
    strips client-sent ``X-MS-CLIENT-PRINCIPAL-*`` headers and sets its own). Only then is the header trusted."""
    return lookups.setting("WEBSITE_AUTH_ENABLED", "").strip().lower() == "true"


def approver_of(req: func.HttpRequest) -> str:
    """Who is deciding: the authenticated principal, or an unauthenticated link holder."""
    if authentication_on():
        return (req.headers.get(PRINCIPAL_HEADER) or "").strip() or UNAUTHENTICATED
    return UNAUTHENTICATED


def _json(body: object, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json",
                             headers={"Cache-Control": "no-store"})


async def _pending(client: df.DurableOrchestrationClient, run_id: str
                   ) -> tuple[DurableOrchestrationStatus | None, ApprovalRequest | None]:
    """The run's approval instance and its request (its input), or None for either it does not have."""
    approval = await client.get_status(approval_instance_id(run_id), show_input=True)
    if not approval or approval.runtime_status is None:
        return None, None
    return approval, ApprovalRequest.maybe(unwrap_json(approval.input_))


@bp.route(route="approvals/{run_id}/{decision}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def approval_link(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """A signed approve/reject link. GET only shows a confirmation page (link previewers and mail scanners
    decide nothing); POST decides."""
    run_id, decision = req.route_params["run_id"], req.route_params["decision"]
    try:
        claim = verify_link(run_id, decision, dict(req.params), lookups.approval_keys())
    except LinkError as err:
        return pages.message(err.status, "Link refused", str(err))
    approval, pending = await _pending(client, run_id)
    if approval is None or pending is None:
        return pages.message(410, "Nothing to decide", f"run {run_id} has no approval request")
    if (pending.version, pending.digest) != (claim.version, claim.digest):
        return pages.message(403, "Link refused", "this link is for another model version or image")
    if approval.runtime_status != df.OrchestrationRuntimeStatus.Running:
        return _already_closed(run_id, _outcome(approval))
    approver = approver_of(req)
    if authentication_on() and approver == UNAUTHENTICATED:
        login = "/.auth/login/aad?post_login_redirect_uri=" + urllib.parse.quote(req.url, safe="")
        return func.HttpResponse(status_code=302, headers={"Location": login, "Cache-Control": "no-store"})
    if pending.approvers and approver not in pending.approvers:
        log.warning("approval of run %s refused: %s is not one of the model's approvers", run_id, approver)
        return pages.message(403, "Not an approver", f"{approver} may not decide on {pending.model}; "
                             "the model's approvers are listed in its model.yaml")
    if req.method == "GET":
        from function_app.dashboard import card_for  # the model card: the evidence before the button

        return pages.confirm(claim, req.url, await card_for(client, run_id))
    return await _decide(client, req, claim, pending, approver)


async def _decide(client: df.DurableOrchestrationClient, req: func.HttpRequest, claim: ApprovalClaim,
                  pending: ApprovalRequest, approver: str) -> func.HttpResponse:
    run_id, request_id = claim.run_id, uuid.uuid4().hex
    reason = clean_reason(_form_field(req, "reason")) if claim.decision == Decision.REJECT else ""
    event = decision_event(lookups.approval_keys()[0], run_id, claim.decision, dict(req.params), approver, request_id,
                           reason)
    delivery_error: Exception | None = None
    try:
        await client.raise_event(approval_instance_id(run_id), Event.APPROVAL_DECISION, event)
    except Exception as err:  # the SDK raises a bare Exception, e.g. when the approval closed since the check above
        delivery_error = err
    wait_s = 0 if delivery_error else DECISION_WAIT_SECONDS
    outcome = await _approval_outcome(client, approval_instance_id(run_id), wait_s)
    if outcome is None and delivery_error:
        log.warning("the decision for run %s could not be delivered: %s", run_id, delivery_error)
        return pages.message(503, "Try again", f"the decision for run {run_id} could not be delivered")
    if outcome is None:
        return pages.message(202, "Decision submitted", f"{claim.decision} for run {run_id} is being recorded; "
                             "the run's status shows the outcome")
    if outcome.request_id != request_id:  # another request (or the timeout) closed the approval first
        return _already_closed(run_id, outcome)
    log.info("approval of run %s: %s by %s", run_id, claim.decision, approver)
    return pages.message(200, "Decision recorded", f"{claim.decision} for {pending.model} "
                         f"version {claim.version} ({claim.digest}) by {approver}")


def _form_field(req: func.HttpRequest, name: str) -> str:
    """One field of an urlencoded form body (the model card's reject form); empty when absent."""
    if "application/x-www-form-urlencoded" not in (req.headers.get("Content-Type") or ""):
        return ""
    values = urllib.parse.parse_qs(req.get_body().decode("utf-8", errors="replace")).get(name) or [""]
    return values[0]


@dataclass(frozen=True)
class _Closed:
    """How a closed approval closed: its decision (or, with no outcome, the instance's runtime status)."""

    decision: str
    approver: str = ""
    request_id: str = ""


def _outcome(status: DurableOrchestrationStatus) -> _Closed:
    output = ApprovalOutcomeFacts.maybe(unwrap_json(status.output))
    if output is None or output.decision is None:
        return _Closed(status.runtime_status.name if status.runtime_status else "closed")
    return _Closed(output.decision, output.approver, output.request_id)


def _already_closed(run_id: str, outcome: _Closed) -> func.HttpResponse:
    by = f" by {outcome.approver}" if outcome.approver else ""
    return pages.message(410, "Already closed",
                         f"the approval of run {run_id} is already closed ({outcome.decision}{by})")


async def _approval_outcome(client: df.DurableOrchestrationClient, instance_id: str, wait_s: float
                            ) -> _Closed | None:
    """The approval's output once it has closed, or None if it is still open after ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while True:
        status = await client.get_status(instance_id)
        if status and status.runtime_status not in (None, df.OrchestrationRuntimeStatus.Running,
                                                    df.OrchestrationRuntimeStatus.Pending):
            return _outcome(status)
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(0.1)


@bp.route(route="runs/{run_id}/approval-links", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@bp.durable_client_input(client_name="client")
async def pending_approval_links(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """``GET /api/runs/{run_id}/approval-links`` (admin key): the pending approval's signed links, made again
    from its request. The run status API never returns them."""
    run_id = req.route_params["run_id"]
    run = await client.get_status(run_id) if is_run_id(run_id) else None
    if not run or run.runtime_status is None or run.name != RUN_ORCHESTRATOR:
        return _json({"error": f"no run {run_id!r}"}, 404)
    approval, pending = await _pending(client, run_id)
    state = ApprovalState.maybe(unwrap_json(approval.custom_status)) if approval else None
    if approval is None or pending is None or state is None or approval.runtime_status != \
            df.OrchestrationRuntimeStatus.Running or state.stage is not ApprovalStage.WAITING:
        return _json({"error": f"run {run_id!r} has no pending approval"}, 409)
    links = approval_links(lookups.approval_base_url(), lookups.approval_keys()[0], run_id, pending.version,
                           pending.digest, state.expires_at_unix)
    return _json({"run_id": run_id, "expires_at": state.expires_at, "links": links})
