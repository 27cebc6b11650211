"""Fleet rollout activities (bindings only) and the ``fleet_rollout`` orchestrator's binding: each activity is one
``RolloutService`` call, payloads as ``factory.rollout.records``. Importing this module has no side effects: the
service is built on the first activity call."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import azure.durable_functions as df

from factory.rollout.records import RingStep, RolloutActivity, RolloutEnd, RolloutPlan, RolloutRequest
from orchestrations.fleet_rollout import fleet_rollout

if TYPE_CHECKING:
    from factory.rollout.service import RolloutService

bp = df.Blueprint()
bp.orchestration_trigger(context_name="context")(fleet_rollout)


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

    svc = services()

    def spec_of(model: str) -> Any:
        return load_model_spec(svc.settings.models_dir / model).rollout

    return handlers(RolloutService(svc.fleet, spec_of))[name](req)


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
    """Clean up older versions' configurations after a completed rollout."""
    return _call(RolloutActivity.FINISH, req)
