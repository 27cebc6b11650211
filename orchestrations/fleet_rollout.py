# pyright: strict, reportMissingTypeStubs=false, reportUnknownMemberType=false
"""The fleet rollout sub-orchestration, after promote, for a model whose model.yaml declares ``rollout:``.

plan (rings, previous version, priority; tag new devices with their ring bucket) → for each ring: stop if a
newer version superseded this rollout → apply the ring's layered deployment → bake on a durable timer → gate
on the devices' signals (while too few devices report, poll until the apply timeout) → on a failed gate roll
back: delete this version's configurations and wait until the devices report the previous version → the
result: Completed, RolledBack (with the gate's reason), Superseded or Failed. People stay in control: a
``RolloutControl`` event (the signed pause / resume / abort links) pauses the rollout before its next step (the
ring's bake starts over on resume) or aborts it (= roll back).

Input: a ``RolloutRequest``; output: a ``RolloutResult`` dict. Pure: no I/O, no clocks.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase, TimerTask

from contract import (
    CONTROL_EVENT,
    Control,
    Convergence,
    RingStep,
    RingVerdict,
    RolloutActivity,
    RolloutEnd,
    RolloutPlan,
    RolloutRequest,
    RolloutResult,
    RolloutStatus,
    Standing,
    unwrap_json,
)
from orchestrations.retrying import carried

Steps = Generator[Any, Any, dict[str, Any]]


class _Timeline:
    """The rollout's ``custom_status``: the step it is at and every ring's verdict so far."""

    def __init__(self, context: df.DurableOrchestrationContext, request: RolloutRequest) -> None:
        self.context, self.request = context, request
        self.retry = carried(context.get_input()).options()  # the run's retry plan, as for its other activities
        self.verdicts: list[RingVerdict] = []
        self._control: TaskBase | None = None

    def control(self) -> TaskBase:
        """The one outstanding wait for ``RolloutControl``: kept across waits (an event raised while an activity
        runs completes it and is seen at the next wait; a second waiter would take events meant for this one)."""
        if self._control is None:
            self._control = self.context.wait_for_external_event(CONTROL_EVENT)
        return self._control

    def take_control(self) -> Control:
        """The control event that completed the wait; the next wait starts a new one."""
        assert self._control is not None
        control = Control.from_dict(unwrap_json(self._control.result) or {})
        self._control = None
        return control

    def show(self, step: str, ring: str = "", **extra: Any) -> None:
        self.context.set_custom_status({"stage": "rollout", "step": step, "ring": ring,
                                        "model": self.request.model, "version": self.request.version,
                                        "rings": [v.to_dict() for v in self.verdicts], **extra})


def fleet_rollout(context: df.DurableOrchestrationContext) -> Steps:
    request = RolloutRequest.from_dict(context.get_input() or {})
    timeline = _Timeline(context, request)
    timeline.show("planning")
    try:
        plan = RolloutPlan.from_dict((yield context.call_activity_with_retry(
            RolloutActivity.PLAN, timeline.retry, request.to_dict())))
    except Exception as exc:
        return _end(timeline, RolloutStatus.FAILED, f"could not plan the rollout: {_first_line(exc)}", "")
    if plan.refused:
        return _end(timeline, RolloutStatus.FAILED, plan.refused, "")
    try:
        return (yield from _rings(context, plan, timeline))
    except Exception as exc:  # an activity still failing after its retries (the fleet unreachable, refusing)
        reason = f"the rollout broke: {_first_line(exc)}"
        timeline.show("rolling back", reason=reason)
        yield context.call_activity_with_retry(RolloutActivity.ROLL_BACK, timeline.retry, plan.to_dict())
        return _end(timeline, RolloutStatus.FAILED, reason + "; this version's configurations were deleted",
                    plan.previous_version)


def _rings(context: df.DurableOrchestrationContext, plan: RolloutPlan, timeline: _Timeline) -> Steps:
    for index, ring in enumerate(plan.rings):
        step = RingStep(plan, index).to_dict()
        standing = Standing.from_dict((yield context.call_activity_with_retry(
            RolloutActivity.STANDING, timeline.retry, plan.to_dict())))
        if standing.superseded_by:
            result = _end(timeline, RolloutStatus.SUPERSEDED, f"version {standing.superseded_by} superseded "
                          f"this rollout before ring {ring.name}", plan.previous_version)
            yield context.call_activity_with_retry(RolloutActivity.FINISH, timeline.retry, _ending(plan, result))
            return result
        timeline.show("applying", ring.name)
        yield context.call_activity_with_retry(RolloutActivity.APPLY_RING, timeline.retry, step)
        timeline.show("baking", ring.name, bake_seconds=ring.bake_seconds)
        aborted = yield from _sleep(context, ring.bake_seconds, timeline, ring.name)
        if aborted:
            return (yield from _roll_back(context, plan, index, timeline, f"ring {ring.name}: {aborted}"))
        deadline = context.current_utc_datetime + timedelta(seconds=plan.apply_timeout_s)
        while True:
            verdict = RingVerdict.from_dict((yield context.call_activity_with_retry(
                RolloutActivity.JUDGE_RING, timeline.retry, step)))
            if verdict.passed or not _only_waiting(verdict) or context.current_utc_datetime >= deadline:
                break
            timeline.show("waiting for devices", ring.name, applied=verdict.applied, targeted=verdict.targeted)
            left = (deadline - context.current_utc_datetime).total_seconds()
            aborted = yield from _sleep(context, min(plan.poll_seconds, left), timeline, ring.name)
            if aborted:
                return (yield from _roll_back(context, plan, index, timeline, f"ring {ring.name}: {aborted}"))
        timeline.verdicts.append(verdict)
        if not verdict.passed:
            return (yield from _roll_back(context, plan, index, timeline, f"ring {ring.name}: {verdict.reason}"))
    result = _end(timeline, RolloutStatus.COMPLETED, "", plan.previous_version)
    yield context.call_activity_with_retry(RolloutActivity.FINISH, timeline.retry, _ending(plan, result))
    return result


def _sleep(context: df.DurableOrchestrationContext, seconds: float, timeline: _Timeline,
           ring: str) -> Generator[Any, Any, str]:
    """Wait ``seconds`` on a durable timer, or for a person's control: ``""`` when the time is up (a pause
    holds until resume, then the wait starts over), or why the rollout was aborted."""
    until = context.current_utc_datetime + timedelta(seconds=seconds)
    while True:
        timer: TimerTask = context.create_timer(until)  # type: ignore[assignment]
        winner = yield context.task_any([timer, timeline.control()])
        if winner is timer:
            return ""
        timer.cancel()
        control = timeline.take_control()
        if control.action == "abort":
            return f"aborted by {control.by or 'a signed link'}"
        if control.action != "pause":
            continue  # a resume while running changes nothing
        timeline.show("paused", ring, by=control.by)
        while control.action != "resume":
            yield timeline.control()
            control = timeline.take_control()
            if control.action == "abort":
                return f"aborted by {control.by or 'a signed link'} while paused"
        timeline.show("baking", ring, resumed_by=control.by)
        until = context.current_utc_datetime + timedelta(seconds=seconds)


def _roll_back(context: df.DurableOrchestrationContext, plan: RolloutPlan, index: int, timeline: _Timeline,
               reason: str) -> Steps:
    """Delete this version's configurations, then poll until the rings' connected devices report the previous
    version (or the rollback timeout: the result says which devices did not)."""
    ring = plan.rings[index].name
    timeline.show("rolling back", ring, reason=reason)
    yield context.call_activity_with_retry(RolloutActivity.ROLL_BACK, timeline.retry, plan.to_dict())
    deadline = context.current_utc_datetime + timedelta(seconds=plan.rollback_timeout_s)
    while True:
        seen = Convergence.from_dict((yield context.call_activity_with_retry(
            RolloutActivity.CONVERGENCE, timeline.retry, RingStep(plan, index).to_dict())))
        if seen.converged or context.current_utc_datetime >= deadline:
            break
        timeline.show("waiting for the previous version", ring, back=seen.on_previous, devices=seen.devices)
        yield context.create_timer(min(context.current_utc_datetime + timedelta(seconds=plan.poll_seconds),
                                       deadline))
    back = (f"; {seen.on_previous} of {seen.devices} connected devices back on "
            f"{'version ' + plan.previous_version if plan.previous_version else 'no version of the model'}")
    if not seen.converged:
        back += f" within {plan.rollback_timeout_s:g} s (not yet: {', '.join(seen.pending)})"
    if seen.offline:
        back += f"; offline, will converge on return: {', '.join(seen.offline)}"
    result = _end(timeline, RolloutStatus.ROLLED_BACK, reason + back, plan.previous_version, seen.on_previous)
    yield context.call_activity_with_retry(RolloutActivity.FINISH, timeline.retry, _ending(plan, result))
    return result


def _only_waiting(verdict: RingVerdict) -> bool:
    """The gate failed only because too few devices report yet (they may still be pulling the image)."""
    return [c.signal for c in verdict.checks if not c.passed] == ["applied_reporting"]


def _ending(plan: RolloutPlan, result: dict[str, Any]) -> dict[str, Any]:
    return RolloutEnd(plan, RolloutResult.from_dict(result)).to_dict()


def _end(timeline: _Timeline, status: RolloutStatus, reason: str, previous: str, back: int = 0) -> dict[str, Any]:
    request = timeline.request
    timeline.show("done", status=status, reason=reason)
    return RolloutResult(run_id=request.run_id, model=request.model, version=request.version, status=status,
                         reason=reason, previous_version=previous, rings=list(timeline.verdicts),
                         rolled_back_devices=back).to_dict()


def _first_line(exc: Exception) -> str:
    return str(exc).split("\n")[0]
