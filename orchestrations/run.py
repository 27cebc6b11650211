# pyright: strict, reportMissingTypeStubs=false, reportUnknownMemberType=false
"""The model factory run: one uploaded data file through every stage to an approved prod image.

Reads like the stage list in docs/factory-run.md: validate data → train (wait for ModelRegistered) → quality
gate → package + verify (wait for ImagePushed) → edge smoke test → approval → promote → (for a model that
declares ``rollout:``) the fleet rollout in rings. Every ending is a ``RunResult``: Succeeded, Rejected (bad
data, gate, edge verdict, approver), Failed (something broke or timed out) or RolledBack (a ring's gate stopped
the rollout); nothing is promoted unless every stage passed.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from datetime import datetime
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase

from contract import (
    FLEET_ROLLOUT,
    Activity,
    ApprovalAttestation,
    ApprovalOutcome,
    ApprovalRequest,
    Attested,
    BuildRequest,
    DataCheck,
    Decision,
    EdgeAttestation,
    EdgeSmokeRequest,
    EdgeStatus,
    Event,
    GateFacts,
    GateRequest,
    GateVerdict,
    ImageBuild,
    ImagePushedEvent,
    Lineage,
    ModelRegisteredEvent,
    Orchestrator,
    Promotion,
    PromotionRequest,
    ReconcileRequest,
    RolloutRequest,
    RolloutResult,
    RolloutStatus,
    RunPlan,
    RunProgress,
    RunRequest,
    RunResult,
    RunStatus,
    SmokeVerdict,
    Stage,
    TrainingFailedEvent,
    TrainingJob,
    approval_instance_id,
    edge_instance_id,
    rollout_instance_id,
)
from orchestrations.reconcile import wait_or_ask
from orchestrations.retrying import RetryPlan, carried, carry

Steps = Generator[Any, Any, dict[str, Any]]


def _retry(plan: RunPlan) -> RetryPlan:
    return RetryPlan(plan.activity_attempts, plan.activity_retry_ms)


def _call(context: df.DurableOrchestrationContext, plan: RunPlan, activity: Activity, payload: dict[str, Any]
          ) -> TaskBase:
    """An activity call retried as the plan says: a transient failure (an API's 503, a registry restarting)
    does not end the run; the activities are idempotent, so a retry after a partial attempt is safe."""
    return context.call_activity_with_retry(activity, _retry(plan).options(), payload)


def _attested(track: _Tracker, result: dict[str, Any]) -> None:
    """Add an attestation the run signed (edge smoke, approval) to the image's signature facts."""
    if track.lineage.signature is not None:
        track.lineage.signature = track.lineage.signature.with_attestation(Attested.from_dict(result).ref())


class _Tracker:
    """Keeps ``custom_status`` (current stage + lineage) and the seconds spent per stage."""

    def __init__(self, context: df.DurableOrchestrationContext, lineage: Lineage) -> None:
        self.context = context
        self.lineage = lineage
        self.stage: Stage | None = None
        self._stage_started: datetime = context.current_utc_datetime

    def enter(self, stage: Stage, result: RunStatus | None = None, reason: str = "") -> None:
        now = self.context.current_utc_datetime
        if self.stage:
            self.lineage.stage_seconds[self.stage] = round((now - self._stage_started).total_seconds(), 3)
        self.stage, self._stage_started = stage, now
        self.publish(result, reason)

    def publish(self, result: RunStatus | None = None, reason: str = "") -> None:
        progress = RunProgress(stage=self.stage, lineage=self.lineage, result=result, reason=reason)
        self.context.set_custom_status(progress.to_dict())

    def end(self, status: RunStatus, reason: str = "") -> dict[str, Any]:
        stage = self.stage or Stage.VALIDATE
        self.enter(Stage.DONE if status == RunStatus.SUCCEEDED else Stage.ENDED, result=status, reason=reason)
        return RunResult(status=status, stage=stage, reason=reason, lineage=self.lineage).to_dict()


def model_factory_run(context: df.DurableOrchestrationContext) -> Steps:
    """The main orchestration (input: ``RunRequest``; output: ``RunResult``).

    An activity that still raises after its retries, or a sub-orchestration that fails, ends the run as Failed
    at the stage it was in, with the error as the reason, rather than leaving a bare failed instance.
    """
    run = RunRequest.from_dict(context.get_input() or {})
    retry = carried(context.get_input())  # the settings' plan, for plan_run (which reads the rest of them)
    track = _Tracker(context, Lineage(model=run.model, data_uri=run.data_uri, data_etag=run.data_etag,
                                      source_commit=run.source_commit))
    try:
        return (yield from _stages(context, run, track, retry))
    except Exception as exc:
        message = str(exc).split("\n")[0]
        return track.end(RunStatus.FAILED, f"{track.stage} failed: {message}")


def _stages(context: df.DurableOrchestrationContext, run: RunRequest, track: _Tracker, retry: RetryPlan) -> Steps:
    track.enter(Stage.VALIDATE)
    plan = RunPlan.from_dict((yield context.call_activity_with_retry(Activity.PLAN_RUN, retry.options(),
                                                                     run.to_dict())))
    checked = DataCheck.from_dict((yield _call(context, plan, Activity.VALIDATE_DATA, run.to_dict())))
    track.lineage.data_etag = checked.etag or run.data_etag
    track.lineage.data_sha256 = checked.sha256
    track.lineage.data = checked.facts
    if not checked.ok:
        return track.end(RunStatus.REJECTED, "; ".join(checked.errors))
    track.lineage.data_pinned_uri = checked.pinned_uri

    track.enter(Stage.TRAIN)  # on the pinned copy of exactly the validated bytes, which training checks
    training = replace(run, data_uri=checked.pinned_uri, data_etag=track.lineage.data_etag,
                       data_sha256=checked.sha256)
    job = TrainingJob.from_dict((yield _call(context, plan, Activity.SUBMIT_TRAINING, training.to_dict())))
    track.lineage.training_job = job.job_name
    track.publish()
    event, payload, asked = yield from wait_or_ask(
        context, [Event.MODEL_REGISTERED, Event.TRAINING_FAILED], plan.training_timeout_s, plan.reconcile_after_s,
        Activity.RECONCILE_MODEL, ReconcileRequest(run.run_id, model=run.model).to_dict(), _retry(plan))
    if event is None:
        return track.end(RunStatus.FAILED, f"training did not register a model within {plan.training_timeout_s} s")
    if event == Event.TRAINING_FAILED:
        failed = TrainingFailedEvent.from_dict(payload)
        return track.end(RunStatus.FAILED, f"training failed: {failed.error or failed.status}")
    track.lineage.model_version = str(ModelRegisteredEvent.from_dict(payload).version)
    if asked:
        track.lineage.reconciled.append(f"ModelRegistered: no event; version {track.lineage.model_version} found "
                                        "in the model registry by the run's run_id tag")

    track.enter(Stage.GATE)
    gate = GateVerdict.from_dict((yield _call(context, plan, Activity.EVALUATE_GATE,
                                              GateRequest(run.model, track.lineage.model_version).to_dict())))
    track.lineage.metrics = gate.metrics
    track.lineage.precision = gate.precision
    track.lineage.gate = GateFacts(passed=gate.passed, reasons=gate.reasons, champion=gate.champion)
    if not gate.passed:
        return track.end(RunStatus.REJECTED, "quality gate: " + "; ".join(gate.reasons))

    track.enter(Stage.PACKAGE)
    built = ImageBuild.from_dict((yield _call(context, plan, Activity.BUILD_IMAGE, BuildRequest(
        run_id=run.run_id, model=run.model, version=track.lineage.model_version,
        source_commit=run.source_commit, repository=plan.image_repository, data_uri=training.data_uri,
        data_sha256=training.data_sha256, training_job=track.lineage.training_job).to_dict())))
    if not built.ok:
        return track.end(RunStatus.REJECTED, f"image verification failed: {built.reason}")
    event, payload, asked = yield from wait_or_ask(
        context, [Event.IMAGE_PUSHED], plan.build_timeout_s, plan.reconcile_after_s, Activity.RECONCILE_IMAGE,
        ReconcileRequest(run.run_id, repository=plan.image_repository).to_dict(), _retry(plan))
    if event is None:
        return track.end(RunStatus.FAILED, f"no ImagePushed event for {built.image} within {plan.build_timeout_s} s")
    pushed = ImagePushedEvent.from_dict(payload)
    if asked:
        track.lineage.reconciled.append(f"ImagePushed: no event; {pushed.repository}:{pushed.tag}@{pushed.digest} "
                                        "found in the dev registry")
    if pushed.digest != built.digest:
        return track.end(RunStatus.FAILED, f"pushed digest {pushed.digest} differs from the verified {built.digest}")
    track.lineage.image, track.lineage.image_digest = built.image, built.digest
    track.lineage.update_bytes, track.lineage.update_from = built.update_bytes, built.update_from
    track.lineage.image_bytes, track.lineage.layers_shared = built.image_bytes, built.layers_shared
    track.lineage.layers_total = built.layers_total
    track.lineage.signature = built.signature

    track.enter(Stage.EDGE)
    smoke = EdgeSmokeRequest(run_id=run.run_id, model=run.model, image=built.image, poll_seconds=plan.edge_poll_s,
                             timeout_seconds=plan.edge_timeout_s)
    raw_verdict = yield context.call_sub_orchestrator(Orchestrator.EDGE_POOL, carry(smoke.to_dict(), _retry(plan)),
                                                      edge_instance_id(run.run_id))
    verdict = SmokeVerdict.from_dict(raw_verdict)
    track.lineage.edge = verdict
    if verdict.status != EdgeStatus.PASS:
        return track.end(RunStatus.REJECTED, f"edge smoke test {verdict.status}: {verdict.reason or raw_verdict}")
    if plan.edge_max_p95_ms is not None and verdict.p95_ms > plan.edge_max_p95_ms:
        return track.end(RunStatus.REJECTED, f"edge smoke test: p95 latency {verdict.p95_ms:g} ms on the device is "
                                             f"over the budget of {plan.edge_max_p95_ms:g} ms")

    _attested(track, (yield _call(context, plan, Activity.ATTEST_EDGE, EdgeAttestation(  # beside the image,
        run_id=run.run_id, model=run.model, version=track.lineage.model_version, image=built.image,  # before approval
        digest=built.digest, verdict=verdict).to_dict())))

    track.enter(Stage.APPROVAL)
    track.lineage.rollout_plan = plan.rollout_summary  # the approval card says where the version will go
    decision = ApprovalOutcome.from_dict((yield context.call_sub_orchestrator(Orchestrator.APPROVAL, carry(
        ApprovalRequest(run_id=run.run_id, model=run.model, version=track.lineage.model_version, digest=built.digest,
                        timeout_s=plan.approval_timeout_s, approvers=list(plan.approvers),
                        lineage=track.lineage).to_dict(), _retry(plan)),
        approval_instance_id(run.run_id))))
    track.lineage.decision, track.lineage.approver = decision.decision, decision.approver
    track.lineage.approval_refused = decision.refused
    track.lineage.decision_reason = decision.decision_reason
    if decision.decision != Decision.APPROVE:
        why = "no decision before the approval timeout" if decision.decision == Decision.TIMEOUT else "rejected"
        if decision.decision_reason:
            why += f" ({decision.decision_reason})"
        return track.end(RunStatus.REJECTED, f"approval: {why}")

    track.enter(Stage.PROMOTE)  # the approve, signed into the image's attestations: promotion requires it
    _attested(track, (yield _call(context, plan, Activity.ATTEST_APPROVAL, ApprovalAttestation(
        run_id=run.run_id, model=run.model, version=track.lineage.model_version, image=built.image,
        digest=built.digest, approver=decision.approver, decided_at=decision.decided_at,
        request_id=decision.request_id).to_dict())))
    promoted = Promotion.from_dict((yield _call(context, plan, Activity.PROMOTE, PromotionRequest(
        model=run.model, version=track.lineage.model_version, image=built.image,
        repository=plan.image_repository).to_dict())))
    track.lineage.prod_ref = promoted.prod_ref
    if not plan.rollout:
        return track.end(RunStatus.SUCCEEDED)

    track.enter(Stage.ROLLOUT)
    rollout = RolloutResult.from_dict((yield context.call_sub_orchestrator(FLEET_ROLLOUT, carry(RolloutRequest(
        run_id=run.run_id, model=run.model, version=track.lineage.model_version,
        image=promoted.prod_ref).to_dict(), _retry(plan)), rollout_instance_id(run.run_id))))
    track.lineage.rollout = rollout
    if rollout.status == RolloutStatus.ROLLED_BACK:
        return track.end(RunStatus.ROLLED_BACK, f"fleet rollout: {rollout.reason}")
    if rollout.status == RolloutStatus.FAILED:
        return track.end(RunStatus.FAILED, f"fleet rollout: {rollout.reason}")
    return track.end(RunStatus.SUCCEEDED, f"fleet rollout {rollout.status}" + (
        f": {rollout.reason}" if rollout.reason else ""))
