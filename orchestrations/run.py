"""The model factory run: one uploaded data file through every stage to an approved prod image.

Reads like the stage list in docs/factory-run.md: validate data → train (wait for ModelRegistered) → quality
gate → package + verify (wait for ImagePushed) → edge smoke test → approval → promote. Every ending is a
``RunResult``: Succeeded, Rejected (bad data, gate, edge verdict, approver) or Failed (something broke or
timed out); nothing is promoted unless every stage passed.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from factory.runs import Lineage, RunPlan, RunRequest, RunResult
from orchestrations.waiting import wait_for_any_event

PLAN_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5000, max_number_of_attempts=3)


def _call(context: Any, plan: RunPlan, activity: str, payload: dict[str, Any]):
    """An activity call retried as the plan says: a transient failure (an API's 503, a registry restarting)
    does not end the run; the activities are idempotent, so a retry after a partial attempt is safe."""
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=plan.activity_retry_ms,
                            max_number_of_attempts=plan.activity_attempts)
    return context.call_activity_with_retry(activity, retry, payload)


class _Tracker:
    """Keeps ``custom_status`` (current stage + lineage) and the seconds spent per stage."""

    def __init__(self, context: Any, lineage: Lineage) -> None:
        self.context = context
        self.lineage = lineage
        self.stage = ""
        self._stage_started = context.current_utc_datetime

    def enter(self, stage: str, **extra: Any) -> None:
        now = self.context.current_utc_datetime
        if self.stage:
            self.lineage.stage_seconds[self.stage] = round((now - self._stage_started).total_seconds(), 3)
        self.stage, self._stage_started = stage, now
        self.publish(**extra)

    def publish(self, **extra: Any) -> None:
        self.context.set_custom_status({"stage": self.stage, "lineage": self.lineage.to_dict(), **extra})

    def end(self, status: str, reason: str = "") -> dict[str, Any]:
        stage = self.stage
        self.enter("done" if status == "Succeeded" else "ended", result=status, reason=reason)
        return RunResult(status=status, stage=stage, reason=reason, lineage=self.lineage.to_dict()).to_dict()


def model_factory_run(context: Any):
    """The main orchestration (input: ``RunRequest``; output: ``RunResult``).

    An activity that still raises after its retries, or a sub-orchestration that fails, ends the run as Failed
    at the stage it was in, with the error as the reason, rather than leaving a bare failed instance.
    """
    run = RunRequest.from_dict(context.get_input())
    track = _Tracker(context, Lineage(model=run.model, data_uri=run.data_uri, data_etag=run.data_etag))
    try:
        return (yield from _stages(context, run, track))
    except Exception as exc:
        message = str(exc).split("\n")[0]
        return track.end("Failed", f"{track.stage} failed: {message}")


def _stages(context: Any, run: RunRequest, track: _Tracker):
    track.enter("validate")
    plan = RunPlan.from_dict((yield context.call_activity_with_retry("plan_run", PLAN_RETRY, run.to_dict())))
    checked = yield _call(context, plan, "validate_data", run.to_dict())
    track.lineage.data_etag = checked.get("etag") or run.data_etag
    if not checked["ok"]:
        return track.end("Rejected", "; ".join(checked["errors"]))

    track.enter("train")
    job = yield _call(context, plan, "submit_training", {**run.to_dict(), "data_etag": track.lineage.data_etag})
    track.lineage.training_job = job["job_name"]
    track.publish()
    event, payload = yield from wait_for_any_event(
        context, ["ModelRegistered", "TrainingFailed"], plan.training_timeout_s)
    if event is None:
        return track.end("Failed", f"training did not register a model within {plan.training_timeout_s} s")
    if event == "TrainingFailed":
        return track.end("Failed", f"training failed: {payload.get('error') or payload.get('status', 'Failed')}")
    track.lineage.model_version = str(payload["version"])

    track.enter("gate")
    gate = yield _call(context, plan, "evaluate_gate", {"model": run.model, "version": track.lineage.model_version})
    track.lineage.metrics = gate["metrics"]
    track.lineage.gate = {"passed": gate["passed"], "reasons": gate["reasons"], "champion": gate.get("champion")}
    if not gate["passed"]:
        return track.end("Rejected", "quality gate: " + "; ".join(gate["reasons"]))

    track.enter("package")
    built = yield _call(context, plan, "build_image", {
        "run_id": run.run_id, "model": run.model, "version": track.lineage.model_version,
        "source_commit": run.source_commit, "repository": plan.image_repository})
    if not built["ok"]:
        return track.end("Rejected", f"image verification failed: {built['reason']}")
    event, pushed = yield from wait_for_any_event(context, ["ImagePushed"], plan.build_timeout_s)
    if event is None:
        return track.end("Failed", f"no ImagePushed event for {built['image']} within {plan.build_timeout_s} s")
    if pushed["digest"] != built["digest"]:
        return track.end("Failed", f"pushed digest {pushed['digest']} differs from the verified {built['digest']}")
    track.lineage.image, track.lineage.image_digest = built["image"], built["digest"]

    track.enter("edge")
    verdict = yield context.call_sub_orchestrator("edge_smoke", {
        "run_id": run.run_id, "model": run.model, "image": built["image"],
        "poll_seconds": plan.edge_poll_s, "timeout_seconds": plan.edge_timeout_s}, f"{run.run_id}-edge")
    track.lineage.edge = verdict
    if verdict["status"] != "pass":
        return track.end("Rejected", f"edge smoke test {verdict['status']}: {verdict.get('reason') or verdict}")
    if plan.edge_max_p95_ms is not None and verdict.get("p95_ms", 0) > plan.edge_max_p95_ms:
        return track.end("Rejected", f"edge smoke test: p95 latency {verdict['p95_ms']:g} ms on the device is over "
                                     f"the budget of {plan.edge_max_p95_ms:g} ms")

    track.enter("approval")
    decision = yield context.call_sub_orchestrator("approval", {
        "run_id": run.run_id, "model": run.model, "version": track.lineage.model_version,
        "digest": built["digest"], "timeout_s": plan.approval_timeout_s}, f"{run.run_id}-approval")
    track.lineage.decision, track.lineage.approver = decision["decision"], decision.get("approver", "")
    if decision["decision"] != "approve":
        why = "no decision before the approval timeout" if decision["decision"] == "timeout" else "rejected"
        return track.end("Rejected", f"approval: {why}")

    track.enter("promote")
    promoted = yield _call(context, plan, "promote", {
        "model": run.model, "version": track.lineage.model_version, "image": built["image"],
        "repository": plan.image_repository})
    track.lineage.prod_ref = promoted["prod_ref"]
    return track.end("Succeeded")
