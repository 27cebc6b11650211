"""Activity bindings: one call each into ``factory.steps.RunSteps``, payloads as ``contract``
records. At-least-once: every step is idempotent. Each function's name is its ``contract.Activity`` name."""

import azure.durable_functions as df

from contract import (
    ApprovalAttestation,
    ApprovalRequest,
    BuildRequest,
    DecisionToVerify,
    EdgeAttestation,
    GateRequest,
    PromotionRequest,
    ReconcileRequest,
    RunRequest,
)
from factory.steps import run_steps

bp = df.Blueprint()


@bp.activity_trigger(input_name="req")
def plan_run(req: dict) -> dict:
    return run_steps().plan_run(RunRequest.from_dict(req)).to_dict()


@bp.activity_trigger(input_name="req")
def validate_data(req: dict) -> dict:
    return run_steps().validate_data(RunRequest.from_dict(req)).to_dict()


@bp.activity_trigger(input_name="req")
def submit_training(req: dict) -> dict:
    return run_steps().submit_training(RunRequest.from_dict(req)).to_dict()


@bp.activity_trigger(input_name="req")
def evaluate_gate(req: dict) -> dict:
    return run_steps().evaluate_gate(GateRequest.from_dict(req)).to_dict()


@bp.activity_trigger(input_name="req")
def build_image(req: dict) -> dict:
    return run_steps().build_image(BuildRequest.from_dict(req)).to_dict()


@bp.activity_trigger(input_name="req")
def request_approval(req: dict) -> dict:
    return run_steps().request_approval(ApprovalRequest.from_dict(req)).to_dict()


@bp.activity_trigger(input_name="req")
def verify_approval(req: dict) -> dict:
    return run_steps().verify_approval(DecisionToVerify.from_dict(req)).to_dict()


@bp.activity_trigger(input_name="req")
def attest_edge(req: dict) -> dict:
    return run_steps().attest_edge(EdgeAttestation.from_dict(req)).to_dict()


@bp.activity_trigger(input_name="req")
def attest_approval(req: dict) -> dict:
    return run_steps().attest_approval(ApprovalAttestation.from_dict(req)).to_dict()


@bp.activity_trigger(input_name="req")
def promote(req: dict) -> dict:
    return run_steps().promote(PromotionRequest.from_dict(req)).to_dict()


@bp.activity_trigger(input_name="req")
def reconcile_model(req: dict) -> dict:
    return run_steps().reconcile_model(ReconcileRequest.from_dict(req)).to_dict()


@bp.activity_trigger(input_name="req")
def reconcile_image(req: dict) -> dict:
    return run_steps().reconcile_image(ReconcileRequest.from_dict(req)).to_dict()
