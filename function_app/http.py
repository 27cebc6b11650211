"""HTTP endpoints: manual runs, run status and lineage, signed approval links, the dashboard."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

import azure.durable_functions as df
import azure.functions as func

from factory import steps
from factory.approval import LinkError, verify_link
from factory.runs import RunRequest, run_id_for_key, unwrap_json
from function_app import pages
from function_app.starter import RUN_ORCHESTRATOR, start_run_once
from orchestrations.contract import Decision, DecisionEvent, Event, approval_instance_id

bp = df.Blueprint()
log = logging.getLogger("function_app")
PRINCIPAL_HEADER = "x-ms-client-principal-name"  # set by App Service authentication (EasyAuth)
DECISION_WAIT_SECONDS = 20.0  # how long a POST waits to learn whether its decision was the one taken


def _json(body: object, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype="application/json")


@bp.route(route="runs", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def start_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """``POST /api/runs`` ``{"model", "data", "idempotency_key"?}`` (or an ``Idempotency-Key`` header)."""
    try:
        body = req.get_json()
    except ValueError:
        return _json({"error": "the body must be JSON: {\"model\": ..., \"data\": ...}"}, 400)
    model, data = body.get("model"), body.get("data")
    if not isinstance(model, str) or model not in steps.known_models():
        return _json({"error": f"field 'model': expected one of {sorted(steps.known_models())}, got {model!r}"}, 400)
    if not isinstance(data, str) or not data:
        return _json({"error": "field 'data': expected a blob URL or a path to a CSV file"}, 400)
    key = req.headers.get("Idempotency-Key") or body.get("idempotency_key") or str(uuid.uuid4())
    run = RunRequest(run_id=run_id_for_key(model, str(key)), model=model, data_uri=data, trigger="manual",
                     source_commit=steps.source_commit())
    await start_run_once(client, run)
    return client.create_check_status_response(req, run.run_id)


def _summary(status: df.DurableOrchestrationStatus) -> dict:
    custom, output = unwrap_json(status.custom_status), unwrap_json(status.output)
    custom = custom if isinstance(custom, dict) else {}
    output = output if isinstance(output, dict) else {}
    return {
        "run_id": status.instance_id,
        "runtime_status": status.runtime_status.name if status.runtime_status else None,
        "created": status.created_time,
        "updated": status.last_updated_time,
        "stage": custom.get("stage"),
        "result": output.get("status"),
        "ended_at_stage": output.get("stage"),
        "reason": output.get("reason") or custom.get("reason"),
        "lineage": output.get("lineage") or custom.get("lineage") or {},
    }


async def _list_runs(client: df.DurableOrchestrationClient) -> list[dict]:
    statuses = await client.get_status_all()
    runs = [_summary(s) for s in statuses if s.name == RUN_ORCHESTRATOR]
    return sorted(runs, key=lambda r: str(r["created"]), reverse=True)


@bp.route(route="runs", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def list_runs(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """``GET /api/runs``: every run with its stage, result and lineage."""
    return _json({"runs": await _list_runs(client)})


@bp.route(route="runs/{run_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def get_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """``GET /api/runs/{run_id}``: stage, lineage, and the pending approval's links if any."""
    run_id = req.route_params["run_id"]
    status = await client.get_status(run_id)
    if not status or status.runtime_status is None or status.name != RUN_ORCHESTRATOR:
        return _json({"error": f"no run {run_id!r}"}, 404)
    summary = _summary(status)
    approval = await client.get_status(approval_instance_id(run_id))
    approval_status = unwrap_json(approval.custom_status) if approval else None
    if approval and approval.runtime_status is not None and isinstance(approval_status, dict):
        summary["approval"] = {"runtime_status": approval.runtime_status.name, **approval_status}
    return _json(summary)


@bp.route(route="approvals/{run_id}/{decision}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def approval_link(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """A signed approve/reject link. GET only shows a confirmation page (link previewers and mail scanners
    decide nothing); POST decides. The signature is the credential, hence anonymous."""
    run_id, decision = req.route_params["run_id"], req.route_params["decision"]
    try:
        claim = verify_link(run_id, decision, dict(req.params), steps.approval_keys())
    except LinkError as err:
        return pages.message(err.status, "Link refused", str(err))
    approval = await client.get_status(approval_instance_id(run_id), show_input=True)
    if not approval or approval.runtime_status is None:
        return pages.message(410, "Nothing to decide", f"run {run_id} has no approval request")
    pending = unwrap_json(approval.input_)
    pending = pending if isinstance(pending, dict) else {}
    if (pending.get("version"), pending.get("digest")) != (claim.version, claim.digest):
        return pages.message(403, "Link refused", "this link is for another model version or image")
    if approval.runtime_status != df.OrchestrationRuntimeStatus.Running:
        return _already_closed(run_id, _outcome(approval))
    if req.method == "GET":
        return pages.confirm(claim, req.url)
    approver = req.headers.get(PRINCIPAL_HEADER) or "holder of the signed link"
    request_id = uuid.uuid4().hex
    delivery_error: Exception | None = None
    try:
        await client.raise_event(approval_instance_id(run_id), Event.APPROVAL_DECISION, DecisionEvent(
            decision=Decision(claim.decision), approver=approver, version=claim.version, digest=claim.digest,
            request_id=request_id).to_dict())
    except Exception as err:  # the SDK raises a bare Exception, e.g. when the approval closed since the check above
        delivery_error = err
    wait_s = 0 if delivery_error else DECISION_WAIT_SECONDS
    outcome = await _approval_outcome(client, approval_instance_id(run_id), wait_s)
    if outcome is None and delivery_error:
        raise RuntimeError(f"the decision for run {run_id} could not be delivered: {delivery_error}")
    if outcome is None:
        return pages.message(202, "Decision submitted", f"{claim.decision} for run {run_id} is being recorded; "
                             "the run's status shows the outcome")
    if outcome.get("request_id") != request_id:  # another request (or the timeout) closed the approval first
        return _already_closed(run_id, outcome)
    log.info("approval of run %s: %s by %s", run_id, claim.decision, approver)
    return pages.message(200, "Decision recorded", f"{claim.decision} for {pending.get('model')} "
                         f"version {claim.version} ({claim.digest}) by {approver}")


def _outcome(status: df.DurableOrchestrationStatus) -> dict:
    output = unwrap_json(status.output)
    return output if isinstance(output, dict) else {"decision": status.runtime_status.name}


def _already_closed(run_id: str, outcome: dict) -> func.HttpResponse:
    by = f" by {outcome['approver']}" if outcome.get("approver") else ""
    return pages.message(410, "Already closed",
                         f"the approval of run {run_id} is already closed ({outcome.get('decision', 'closed')}{by})")


async def _approval_outcome(client: df.DurableOrchestrationClient, instance_id: str, wait_s: float) -> dict | None:
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


@bp.route(route="dashboard", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def dashboard(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """``GET /api/dashboard``: the runs, their stage and lineage, as a page."""
    return pages.dashboard(await _list_runs(client))
