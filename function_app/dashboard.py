"""The dashboard's HTTP endpoints (anonymous to the host: each takes the session cookie a function key
started, ``dashboard_session``; on Azure Entra sign-in in front as docs/security.md says): runs, one run,
one model, the approvals waiting, the fleet. Bindings only: the facts come from ``factory.history`` and
``factory.card``, the HTML from ``function_app.pages``."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import azure.durable_functions as df
import azure.functions as func

from contract import ApprovalOutcomeFacts, ApprovalState, approval_instance_id, runtime_status, unwrap_json
from factory import history, lookups
from factory.card import ModelCard, assemble_card, seconds_left
from factory.catalog import CatalogError
from factory.runs import is_run_id
from function_app import dashboard_session, pages
from function_app.http import _list_runs, _summary
from function_app.pages.html import Links
from function_app.starter import RUN_ORCHESTRATOR

bp = df.Blueprint()


def _links(req: func.HttpRequest) -> Links:
    return Links("/api/dashboard")  # no key in any link: the session cookie carries the visit (dashboard_session)


async def approval_info(client: df.DurableOrchestrationClient, run_id: str) -> ApprovalState:
    """The approval sub-orchestration's expiry (while it runs), refused attempts and outcome, for the card."""
    status = await client.get_status(approval_instance_id(run_id))
    if not status or status.runtime_status is None:
        return ApprovalState()
    state = ApprovalState.maybe(unwrap_json(status.custom_status)) or ApprovalState()
    running = status.runtime_status == df.OrchestrationRuntimeStatus.Running
    return replace(state, runtime_status=runtime_status(status.runtime_status.name),
                   expires_at=state.expires_at if running else "",
                   outcome=ApprovalOutcomeFacts.maybe(unwrap_json(status.output)))


async def card_for(client: df.DurableOrchestrationClient, run_id: str) -> ModelCard | None:
    """The model card of a run (None when there is no such run): its lineage, approval and the registries."""
    status = await client.get_status(run_id)
    if not status or status.runtime_status is None or status.name != RUN_ORCHESTRATOR:
        return None
    return await asyncio.to_thread(assemble_card, _summary(status), await approval_info(client, run_id))


@bp.route(route="dashboard", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def dashboard(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """``GET /api/dashboard[?model=&result=&stage=]``: the runs, filtered, and the model folders skipped."""
    if (refused := dashboard_session.refused(req)) is not None:
        return refused
    runs = await _list_runs(client)
    good, broken = await asyncio.to_thread(lookups.scan)
    p = req.params
    return pages.runs_page(runs, sorted(good), _links(req), p.get("model", ""), p.get("result", ""),
                           p.get("stage", ""), broken)


@bp.route(route="dashboard/runs/{run_id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def dashboard_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """``GET /api/dashboard/runs/{run_id}``: the stage timeline, the lineage chain and the model card."""
    if (refused := dashboard_session.refused(req)) is not None:
        return refused
    run_id = req.route_params["run_id"]
    status = await client.get_status(run_id) if is_run_id(run_id) else None
    if not status or status.runtime_status is None or status.name != RUN_ORCHESTRATOR:
        return pages.message(404, "No such run", f"there is no run {run_id}")
    run = _summary(status)
    card = await asyncio.to_thread(assemble_card, run, await approval_info(client, run_id))
    return pages.run_page(run, card, _links(req), time.time())


@bp.route(route="dashboard/models/{model}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def dashboard_model(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """``GET /api/dashboard/models/{model}``: versions, production, gate-metric trend."""
    if (refused := dashboard_session.refused(req)) is not None:
        return refused
    model = req.route_params["model"]
    if model not in lookups.known_models():
        return pages.message(404, "No such model", f"there is no model {model} in the catalog")
    try:
        found = await asyncio.to_thread(history.model_history, model)
    except CatalogError as err:
        return pages.message(500, "Catalog error", str(err))
    try:
        running = await asyncio.to_thread(lookups.versions_on_devices, model)
    except Exception:  # noqa: BLE001 - a view: the page says the fleet could not be read
        running = None
    return pages.model_page(found, await _list_runs(client), _links(req), running)


@bp.route(route="dashboard/fleet", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def dashboard_fleet(req: func.HttpRequest) -> func.HttpResponse:
    """``GET /api/dashboard/fleet``: every device, its rings, versions, health and last report."""
    if (refused := dashboard_session.refused(req)) is not None:
        return refused
    try:
        devices = lookups.fleet_devices()
    except Exception as err:  # noqa: BLE001 - the fleet (IoT Hub, the local hub file) could not be read
        return pages.message(503, "Fleet not available", f"the fleet could not be read: {type(err).__name__}")
    return pages.fleet_page(devices, _links(req))


@bp.route(route="dashboard/approvals", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def dashboard_approvals(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """``GET /api/dashboard/approvals``: the approvals waiting, with time left."""
    if (refused := dashboard_session.refused(req)) is not None:
        return refused
    now, waiting = time.time(), []
    for run in history.waiting_approvals(await _list_runs(client)):
        info = await approval_info(client, run.run_id)
        if info.running:
            waiting.append(pages.Waiting(run.run_id, run.lineage.model, run.lineage.model_version,
                                         info.expires_at, seconds_left(info.expires_at, now)))
    return pages.approvals_page(waiting, _links(req))
