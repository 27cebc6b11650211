"""Activity bindings: one call each into ``factory.steps``, payloads as ``orchestrations.contract`` records.
At-least-once: every step is idempotent. Each function's name is its ``contract.Activity`` name."""

import azure.durable_functions as df

from factory import steps
from orchestrations.contract import (
    ApprovalRequest,
    BuildRequest,
    DecisionToVerify,
    GateRequest,
    PromotionRequest,
    RunRequest,
)

bp = df.Blueprint()


@bp.activity_trigger(input_name="req")
def plan_run(req: dict) -> dict:
    return steps.plan_run(RunRequest.from_dict(req)).to_dict()


@bp.activity_trigger(input_name="req")
def validate_data(req: dict) -> dict:
    return steps.validate_data(RunRequest.from_dict(req)).to_dict()


@bp.activity_trigger(input_name="req")
def submit_training(req: dict) -> dict:
    return steps.submit_training(RunRequest.from_dict(req)).to_dict()


@bp.activity_trigger(input_name="req")
def evaluate_gate(req: dict) -> dict:
    return steps.evaluate_gate(GateRequest.from_dict(req)).to_dict()


@bp.activity_trigger(input_name="req")
def build_image(req: dict) -> dict:
    return steps.build_image(BuildRequest.from_dict(req)).to_dict()


@bp.activity_trigger(input_name="req")
def request_approval(req: dict) -> dict:
    return steps.request_approval(ApprovalRequest.from_dict(req)).to_dict()


@bp.activity_trigger(input_name="req")
def verify_approval(req: dict) -> dict:
    return steps.verify_approval(DecisionToVerify.from_dict(req)).to_dict()


@bp.activity_trigger(input_name="req")
def promote(req: dict) -> dict:
    return steps.promote(PromotionRequest.from_dict(req)).to_dict()
