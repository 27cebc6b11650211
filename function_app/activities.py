"""Activity bindings: one call each into ``factory.steps``. At-least-once: every step is idempotent."""

import azure.durable_functions as df

from factory import steps

bp = df.Blueprint()


@bp.activity_trigger(input_name="req")
def plan_run(req: dict) -> dict:
    return steps.plan_run(req)


@bp.activity_trigger(input_name="req")
def validate_data(req: dict) -> dict:
    return steps.validate_data(req)


@bp.activity_trigger(input_name="req")
def submit_training(req: dict) -> dict:
    return steps.submit_training(req)


@bp.activity_trigger(input_name="req")
def evaluate_gate(req: dict) -> dict:
    return steps.evaluate_gate(req)


@bp.activity_trigger(input_name="req")
def build_image(req: dict) -> dict:
    return steps.build_image(req)


@bp.activity_trigger(input_name="req")
def request_approval(req: dict) -> dict:
    return steps.request_approval(req)


@bp.activity_trigger(input_name="req")
def promote(req: dict) -> dict:
    return steps.promote(req)
