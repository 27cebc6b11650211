# pyright: strict
"""What the rollout's activities do, on a ``Fleet``: plan, apply a ring, judge it, check the rollout's standing,
roll back, watch the devices converge, finish. Each step is idempotent (a replayed or retried activity
creates no second configuration and deletes nothing twice that matters)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from contract import (
    Convergence,
    RingPlan,
    RingStep,
    RingVerdict,
    RolloutPlan,
    RolloutRequest,
    RolloutResult,
    RolloutStatus,
    Standing,
)
from factory.edge.manifest import module_name
from factory.rollout.fleet import (
    LABEL_MODEL,
    LABEL_RING,
    LABEL_VERSION,
    Fleet,
    FleetError,
    LayeredDeployment,
    configuration_id,
    layered_content,
    version_metric,
)
from factory.rollout.gate import judge
from factory.rollout.spec import BUCKET_TAG, RolloutSpec, bucket, ring_condition
from factory.supplychain.statements import rolled_back

MAX_DEVICES_NAMED = 20


class Production(Protocol):
    """The part of the model registry a rollback needs (``ports.ModelRegistry`` has it)."""

    def mark_production(self, name: str, version: str) -> None: ...


class RollbackMark(Protocol):
    """Marks the prod image of a rolled-back version in its registry (``supplychain.steps.RollbackMarker``)."""

    def mark_rolled_back(self, image: str, predicate: dict[str, Any]) -> None: ...


class RolloutService:
    """The rollout steps on one fleet; ``spec_of(model)`` gives a model's ``rollout:`` (None: no rollout)."""

    def __init__(self, fleet: Fleet, spec_of: Callable[[str], RolloutSpec | None], poll_seconds: float = 30.0,
                 rollback_timeout_s: float = 1800.0, registry: Production | None = None,
                 marker: RollbackMark | None = None, clock: Callable[[], float] = time.time,
                 image_check: Callable[[str], str] | None = None, reporter_image: str = "") -> None:
        self.fleet, self.spec_of, self.registry, self.marker, self.clock = fleet, spec_of, registry, marker, clock
        self.image_check = image_check  # the image's signature check: "" or why no device may run it
        self.reporter_image = reporter_image  # the fleet reporter each layer carries ("": none; layered_content)
        self.poll_seconds, self.rollback_timeout_s = poll_seconds, rollback_timeout_s

    def plan(self, request: RolloutRequest) -> RolloutPlan:
        """The rings, the previous version (the highest-priority configuration of another version) and the
        priority above it; tags every fleet device that has no ring bucket yet. Refused, before any device is
        touched, when the image's or the fleet reporter's signature does not verify (``image_check``) or either
        is not pinned by digest. The plan keeps the reporter image: every ring of the rollout runs the same."""
        spec = self.spec_of(request.model)
        check: Callable[[str], str] = self.image_check or (lambda _image: "")
        why = check(request.image)
        if why:
            return RolloutPlan(request.run_id, request.model, request.version, request.image,
                               refused=f"not rolling out {request.image}: {why}")
        reporter = self.reporter_image
        try:
            if spec is None:
                raise FleetError(f"model {request.model} declares no rollout: in its model.yaml")
            layered_content(request.model, module_name(request.model), request.version, request.image,
                            request.run_id, reporter)
        except FleetError as exc:  # bad input, not a transient failure: refused, nothing changed
            return RolloutPlan(request.run_id, request.model, request.version, request.image, refused=str(exc))
        why = check(reporter) if reporter else ""
        if why:
            return RolloutPlan(request.run_id, request.model, request.version, request.image,
                               refused=f"not rolling out {request.image}: its fleet reporter {reporter}: {why}")
        existing = self.fleet.deployments(request.model)
        own = [c.priority for c in existing if c.labels.get(LABEL_VERSION) == request.version]
        others = sorted((c for c in existing if c.labels.get(LABEL_VERSION) != request.version),
                        key=lambda c: c.priority)
        previous = others[-1].labels.get(LABEL_VERSION, "") if others else ""
        priority = own[0] if own else (others[-1].priority + 1 if others else 1)
        untagged = self.fleet.untagged_devices(spec.fleet, BUCKET_TAG)
        if untagged:
            self.fleet.tag_devices({d: {BUCKET_TAG: bucket(d)} for d in untagged})
        rings = [RingPlan(name=r.name, configuration_id=configuration_id(request.model, request.version, r.name),
                          target_condition=spec.target_condition(i), bucket_lo=spec.buckets(i)[0],
                          bucket_hi=spec.buckets(i)[1], min_devices=r.min_devices, bake_seconds=r.bake_minutes * 60)
                 for i, r in enumerate(spec.rings)]
        a = spec.abort
        return RolloutPlan(run_id=request.run_id, model=request.model, version=request.version, image=request.image,
                           module=module_name(request.model), reporter_image=reporter, previous_version=previous,
                           priority=priority, rings=rings, fleet=spec.fleet, max_failed_percent=a.max_failed_percent,
                           max_error_rate=a.max_error_rate, max_p95_regression=a.max_p95_regression,
                           max_prediction_shift=a.max_prediction_shift, poll_seconds=self.poll_seconds,
                           rollback_timeout_s=self.rollback_timeout_s, tagged_devices=len(untagged))

    def apply_ring(self, step: RingStep) -> str:
        """Create the ring's layered deployment (an existing one is kept); returns its id."""
        plan, ring = step.plan, step.plan.rings[step.ring]
        self.fleet.create_deployment(LayeredDeployment(
            id=ring.configuration_id, target_condition=ring.target_condition, priority=plan.priority,
            modules_content=layered_content(plan.model, plan.module, plan.version, plan.image, plan.run_id,
                                            plan.reporter_image),
            labels={LABEL_MODEL: plan.model, LABEL_VERSION: plan.version, LABEL_RING: ring.name},
            metrics={"reportingVersion": version_metric(plan.module, plan.version)}))
        return ring.configuration_id

    def judge_ring(self, step: RingStep) -> RingVerdict:
        """The gate on the ring's devices, from what they report now."""
        plan, ring = step.plan, step.plan.rings[step.ring]
        reports = self.fleet.device_reports(ring.target_condition, plan.module)
        return judge(ring.name, reports, plan.version, plan.previous_version, ring.min_devices,
                     plan.max_failed_percent, plan.max_error_rate, plan.max_p95_regression,
                     plan.max_prediction_shift)

    def standing(self, plan: RolloutPlan) -> Standing:
        """Superseded when a configuration of another version of the model has a higher priority."""
        newer = [c for c in self.fleet.deployments(plan.model)
                 if c.priority > plan.priority and c.labels.get(LABEL_VERSION) != plan.version]
        return Standing(superseded_by=max(newer, key=lambda c: c.priority).labels.get(LABEL_VERSION, "?")
                        if newer else "")

    def roll_back(self, plan: RolloutPlan) -> int:
        """Delete every ring configuration of this version: the previous version's layer applies again."""
        for ring in plan.rings:
            self.fleet.delete_deployment(ring.configuration_id)
        return len(plan.rings)

    def convergence(self, step: RingStep) -> Convergence:
        """How many connected devices of the rings up to ``step.ring`` no longer run the rolled-back version."""
        plan = step.plan
        condition = ring_condition(plan.fleet, 0, plan.rings[step.ring].bucket_hi)
        reports = self.fleet.device_reports(condition, plan.module)
        online = [r for r in reports if r.connected]
        back = [r for r in online if r.version != plan.version and r.module_status == "running"
                or (not plan.previous_version and r.version != plan.version)]
        returned = {r.device for r in back}
        pending = [r.device for r in online if r.device not in returned]
        return Convergence(devices=len(online), on_previous=len(back),
                           offline=[r.device for r in reports if not r.connected][:MAX_DEVICES_NAMED],
                           pending=pending[:MAX_DEVICES_NAMED])

    def finish(self, plan: RolloutPlan, result: RolloutResult) -> int:
        """After a rollback, production in the model registry goes back to the previous version and the prod
        image is marked rolled back (it stays in prod; ``RollbackMark``). After a
        completed rollout, delete the configurations of the model's older versions (lower priority): this
        version's layer covers the fleet and stays as the next rollout's previous layer; a newer rollout's
        configurations are left alone. Returns how many were deleted."""
        if result.status == RolloutStatus.ROLLED_BACK and plan.previous_version and self.registry is not None:
            self.registry.mark_production(plan.model, plan.previous_version)
        if result.status == RolloutStatus.ROLLED_BACK and self.marker is not None:  # a retry marks it again: one mark
            when = datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="seconds")
            self.marker.mark_rolled_back(plan.image, rolled_back(plan.run_id, plan.model, plan.version,
                                                                 plan.previous_version, result.reason, when))
        if result.status != RolloutStatus.COMPLETED:
            return 0
        stale = [c.id for c in self.fleet.deployments(plan.model)
                 if c.labels.get(LABEL_VERSION) != plan.version and c.priority < plan.priority]
        for deployment_id in stale:
            self.fleet.delete_deployment(deployment_id)
        return len(stale)
