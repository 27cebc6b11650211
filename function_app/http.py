"""HTTP endpoints: manual runs, run status and lineage (approval links: approvals.py; the dashboard: dashboard.py)."""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import replace

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from contract import (
    ApprovalState,
    RunProgress,
    RunRequest,
    RunResult,
    RunSummary,
    approval_instance_id,
    runtime_status,
    unwrap_json,
)
from factory import lookups
from factory.datasource import DataSourceError
from factory.runs import is_run_id, run_id_for_key
from function_app import idempotency, inputs
from function_app.starter import RUN_ORCHESTRATOR, start_run_once

bp = df.Blueprint()
COMMIT = re.compile(r"[0-9a-f]{7,40}")
log = logging.getLogger("function_app")


def _json(body: object, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype="application/json")


@bp.route(route="runs", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def start_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """``POST /api/runs`` ``{"model", "data", "idempotency_key"?, "source_commit"?}`` (or an
    ``Idempotency-Key`` header). ``data`` is a blob URL or a path, or ``"latest"``: the model's newest upload
    (CI retrains a model whose code changed on it, with the commit as ``source_commit``)."""
    try:
        body = inputs.json_object(req, '{"model": "<model>", "data": "<model>/<file>" | "latest"}')
        model = inputs.text_field(body, "model")
        if model not in lookups.known_models():
            broken = lookups.broken_models().get(str(model))
            if broken:
                raise inputs.BadInput(f"field 'model': {model} is skipped because it does not load: {broken}", 409)
            raise inputs.BadInput(f"field 'model': expected one of {sorted(lookups.known_models())}, "
                                  f"got {str(model)[:80]!r}")
        data = inputs.text_field(body, "data")
        commit = inputs.text_field(body, "source_commit", required=False)
        if commit and not COMMIT.fullmatch(str(commit)):
            raise inputs.BadInput("field 'source_commit': expected a git commit (7 to 40 hex digits)")
        key = inputs.text_field({"Idempotency-Key": req.headers.get("Idempotency-Key")}, "Idempotency-Key",
                                required=False) or inputs.text_field(body, "idempotency_key", required=False)
        if data == "latest":
            data = lookups.latest_upload(str(model))
            if data is None:
                raise inputs.BadInput(f"field 'data': {model} has no upload yet (incoming/{model}/)", 404)
        data_uri = lookups.resolve_data(str(model), str(data))
    except inputs.BadInput as bad:
        return inputs.error(str(bad), bad.status)
    except DataSourceError as err:
        return inputs.error(f"field 'data': {err}")
    given, key = key, key or str(uuid.uuid4())
    run = RunRequest(run_id=run_id_for_key(model, str(key)), model=model, data_uri=data_uri, trigger="manual",
                     source_commit=commit or lookups.source_commit())
    if given and (conflict := await idempotency.key_conflict(client, run, str(key), bool(commit))):
        return inputs.error(conflict, 422)
    await start_run_once(client, run)
    return idempotency.accepted(req, run.run_id)


def _summary(status: DurableOrchestrationStatus) -> RunSummary:
    """A run's summary from its Durable status: the stage from its custom status while in flight, its result
    from its output once it ended, the lineage from whichever is newer."""
    custom, output = unwrap_json(status.custom_status), unwrap_json(status.output)
    progress = RunProgress.maybe(custom) or RunProgress()
    result = RunResult.maybe(output)
    return RunSummary(run_id=status.instance_id or "",
                      runtime_status=runtime_status(status.runtime_status.name if status.runtime_status else None),
                      created=str(status.created_time or ""), updated=str(status.last_updated_time or ""),
                      stage=progress.stage, result=result.status if result else None,
                      ended_at_stage=result.stage if result else None,
                      reason=(result.reason if result else "") or progress.reason,
                      lineage=result.lineage if result else progress.lineage)


async def _list_runs(client: df.DurableOrchestrationClient) -> list[RunSummary]:
    statuses = await client.get_status_all()
    runs = [_summary(s) for s in statuses if s.name == RUN_ORCHESTRATOR]
    return sorted(runs, key=lambda r: r.created, reverse=True)


@bp.route(route="runs", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def list_runs(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """``GET /api/runs``: every run with its stage, result and lineage."""
    return _json({"runs": [r.to_dict() for r in await _list_runs(client)]})


@bp.route(route="runs/{run_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def get_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """``GET /api/runs/{run_id}``: stage, lineage, and the pending approval's links if any."""
    run_id = req.route_params["run_id"]
    status = await client.get_status(run_id) if is_run_id(run_id) else None
    if not status or status.runtime_status is None or status.name != RUN_ORCHESTRATOR:
        return _json({"error": f"no run {run_id!r}"}, 404)
    summary = _summary(status)
    approval = await client.get_status(approval_instance_id(run_id))
    approval_status = unwrap_json(approval.custom_status) if approval else None
    if approval and approval.runtime_status is not None and isinstance(approval_status, dict):
        state = ApprovalState.from_dict({**approval_status, "runtime_status": approval.runtime_status.name})
        summary = replace(summary, approval=state)
    return _json(summary.to_dict())


