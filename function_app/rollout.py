"""Fleet rollout activities (bindings only), the ``fleet_rollout`` orchestrator's binding, and the signed
pause / resume / abort links: each activity is one ``RolloutService`` call, payloads as
``contract.rollout``. Importing this module has no side effects: the services are built on the first call.

A control link's signature is its holder's credential (anonymous route; GET shows a confirmation page, POST acts).
The endpoint verifies the link and raises ``RolloutControl`` on the run's rollout instance; unlike the approval
decision, the orchestrator does not re-verify the event, so a holder of the Durable API key could raise it too
(pause and abort only ever stop or undo a rollout; resume continues one the gates still judge).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import azure.durable_functions as df
import azure.functions as func

from contract import (
    CONTROL_EVENT,
    Control,
    RingStep,
    RolloutActivity,
    RolloutEnd,
    RolloutPlan,
    RolloutRequest,
    rollout_instance_id,
)
from factory.runs import is_run_id
from orchestrations.fleet_rollout import fleet_rollout

if TYPE_CHECKING:
    from factory.rollout.service import RolloutService

bp = df.Blueprint()  # the orchestrator and its activities
bp.orchestration_trigger(context_name="context")(fleet_rollout)
links_bp = df.Blueprint()  # the signed control links


def handlers(service: RolloutService) -> dict[str, Callable[[dict[str, Any]], Any]]:
    """Each activity's call on ``service``: dict in, dict (or a plain value) out."""

    def finish(req: dict[str, Any]) -> int:
        end = RolloutEnd.from_dict(req)
        return service.finish(end.plan, end.result)

    return {
        RolloutActivity.PLAN: lambda req: service.plan(RolloutRequest.from_dict(req)).to_dict(),
        RolloutActivity.STANDING: lambda req: service.standing(RolloutPlan.from_dict(req)).to_dict(),
        RolloutActivity.APPLY_RING: lambda req: service.apply_ring(RingStep.from_dict(req)),
        RolloutActivity.JUDGE_RING: lambda req: service.judge_ring(RingStep.from_dict(req)).to_dict(),
        RolloutActivity.ROLL_BACK: lambda req: service.roll_back(RolloutPlan.from_dict(req)),
        RolloutActivity.CONVERGENCE: lambda req: service.convergence(RingStep.from_dict(req)).to_dict(),
        RolloutActivity.FINISH: finish,
    }


def _call(name: RolloutActivity, req: dict[str, Any]) -> Any:
    from factory.backends import services
    from factory.catalog import load_model_spec
    from factory.rollout.service import RolloutService
    from factory.supplychain.policy import signature_check
    from factory.supplychain.steps import RollbackMarker

    svc = services()

    def spec_of(model: str) -> Any:
        return load_model_spec(svc.settings.models_dir / model).rollout

    marker = RollbackMarker(svc.signer, svc.image_registry)
    image_check = signature_check(svc.signer.public_key_pem(), svc.image_registry.artifacts)
    return handlers(RolloutService(svc.fleet, spec_of, poll_seconds=svc.settings.rollout_poll_s,
                                   registry=_OnRollback(svc), marker=marker, image_check=image_check,
                                   reporter_image=svc.settings.fleet_reporter_image))[name](req)


class _OnRollback:
    """The model registry's ``mark_production``, its client built on first use: only a rollback's finish needs
    it, and an MLflow or AML client takes seconds to build in a fresh worker (an MLflow store its migrations)."""

    def __init__(self, svc: Any) -> None:
        self.svc = svc

    def mark_production(self, name: str, version: str) -> None:
        self.svc.model_registry.mark_production(name, version)


@bp.activity_trigger(input_name="req")
def rollout_plan(req: dict) -> dict:
    """Resolve the rings, the previous version and the priority; tag new devices with their ring bucket."""
    return _call(RolloutActivity.PLAN, req)


@bp.activity_trigger(input_name="req")
def rollout_standing(req: dict) -> dict:
    """Whether a newer version of the model superseded this rollout."""
    return _call(RolloutActivity.STANDING, req)


@bp.activity_trigger(input_name="req")
def rollout_apply_ring(req: dict) -> str:
    """Create the ring's layered deployment (idempotent)."""
    return _call(RolloutActivity.APPLY_RING, req)


@bp.activity_trigger(input_name="req")
def rollout_judge_ring(req: dict) -> dict:
    """The gate's verdict on the ring's devices."""
    return _call(RolloutActivity.JUDGE_RING, req)


@bp.activity_trigger(input_name="req")
def rollout_roll_back(req: dict) -> int:
    """Delete the version's configurations."""
    return _call(RolloutActivity.ROLL_BACK, req)


@bp.activity_trigger(input_name="req")
def rollout_convergence(req: dict) -> dict:
    """How many devices report the previous version again."""
    return _call(RolloutActivity.CONVERGENCE, req)


@bp.activity_trigger(input_name="req")
def rollout_finish(req: dict) -> int:
    """After a completed rollout, clean up older versions' configurations; after a rollback, mark the prod image
    rolled back and put production back on the previous version."""
    return _call(RolloutActivity.FINISH, req)


@links_bp.route(route="rollouts/{run_id}/{action}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@links_bp.durable_client_input(client_name="client")
async def rollout_link(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """A signed pause / resume / abort link of a run's fleet rollout."""
    from factory import lookups
    from factory.approval import LinkError
    from factory.rollout.links import verify_control
    from function_app import pages
    from function_app.approvals import approver_of
    from function_app.pages.html import esc, page

    run_id, action = req.route_params["run_id"], req.route_params["action"]
    try:
        verify_control(run_id, action, dict(req.params), lookups.approval_keys())
    except LinkError as err:
        return pages.message(err.status, "Link refused", str(err))
    if not await _running(client, run_id):
        return pages.message(410, "Nothing to control", f"run {run_id} has no running fleet rollout")
    if req.method == "GET":
        return page(200, f"{action.capitalize()} the fleet rollout of run {run_id}?",
                    f"<p>Run <code>{esc(run_id)}</code>.</p><form method='post'><button type='submit'>"
                    f"{esc(action.capitalize())} the rollout</button></form>")
    by = approver_of(req)  # the link's signature is the credential; the principal is recorded when there is one
    await client.raise_event(rollout_instance_id(run_id), CONTROL_EVENT, Control(action, by).to_dict())
    return pages.message(202, "Sent", f"{action} for the fleet rollout of run {run_id} ({by})")


async def _running(client: df.DurableOrchestrationClient, run_id: str) -> bool:
    """Whether the run has a fleet rollout running (a run id outside the factory's alphabet never has one, and
    never goes into a Durable client URL)."""
    status = await client.get_status(rollout_instance_id(run_id)) if is_run_id(run_id) else None
    return bool(status) and status.runtime_status == df.OrchestrationRuntimeStatus.Running


LINKS_VALID_S = 3600  # a control link handed out by the admin route is valid this long


@links_bp.route(route="runs/{run_id}/rollout-links", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@links_bp.durable_client_input(client_name="client")
async def rollout_links(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """``GET /api/runs/{run_id}/rollout-links`` (admin key): signed pause / resume / abort links of the run's
    running fleet rollout, valid for an hour; 409 when the run has none running."""
    import json
    import time

    from factory import lookups
    from factory.rollout.links import control_links

    run_id = req.route_params["run_id"]
    headers = {"Cache-Control": "no-store"}
    if not await _running(client, run_id):
        return func.HttpResponse(json.dumps({"error": f"run {run_id!r} has no running fleet rollout"}),
                                 status_code=409, mimetype="application/json", headers=headers)
    expires_at = int(time.time()) + LINKS_VALID_S
    links = control_links(lookups.approval_base_url(), lookups.approval_keys()[0], run_id, expires_at)
    return func.HttpResponse(json.dumps({"run_id": run_id, "expires_at_unix": expires_at, "links": links}),
                             mimetype="application/json", headers=headers)
