"""The edge stage over the device pool: pick one test device per architecture the image targets
(``edge_devices``), run the ``edge_smoke`` sub-orchestration on each in parallel (each under its own device
lease), and combine: the stage passes only when every architecture passed; the verdict lists each device,
architecture, latency and bytes pulled.

Input: an ``EdgeSmokeRequest``. Output: a ``SmokeVerdict`` dict with ``devices``. Pure: no I/O, no clocks.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from typing import Any

import azure.durable_functions as df

from contract import (
    Activity,
    EdgePlan,
    EdgePlanRequest,
    EdgeSmokeRequest,
    EdgeStatus,
    Orchestrator,
    SmokeVerdict,
    combine_verdicts,
)
from orchestrations.retrying import carried, carry


def edge_pool_smoke(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Smoke-test the image on one device per architecture, in parallel; pass only if all passed."""
    smoke = EdgeSmokeRequest.from_dict(context.get_input() or {})
    retry = carried(context.get_input())  # the run's plan, handed on to each device's smoke test
    try:
        plan = EdgePlan.from_dict((yield context.call_activity_with_retry(
            Activity.EDGE_DEVICES, retry.options(), EdgePlanRequest(smoke.image).to_dict())))
    except Exception as exc:
        return SmokeVerdict(smoke.run_id, EdgeStatus.FAIL, reason=f"could not choose edge devices: {exc}").to_dict()
    if plan.refused:
        return SmokeVerdict(smoke.run_id, EdgeStatus.FAIL, reason=plan.refused).to_dict()
    if plan.missing or not plan.devices:
        return SmokeVerdict(smoke.run_id, EdgeStatus.FAIL, reason=(
            f"no test device for architecture(s) {', '.join(plan.missing) or '?'} of {smoke.image} "
            f"(FACTORY_EDGE_DEVICES)")).to_dict()
    context.set_custom_status({"stage": "edge_smoke", "step": "testing on devices", "run_id": smoke.run_id,
                               "devices": [d.to_dict() for d in plan.devices]})
    tasks = [context.call_sub_orchestrator(Orchestrator.EDGE_SMOKE,
                                           carry(replace(smoke, device=d.device, arch=d.arch).to_dict(), retry),
                                           f"{context.instance_id}-{d.device or 'device'}")
             for d in plan.devices]
    verdicts: list[dict[str, Any]] = yield context.task_all(tasks)
    return combine_verdicts(smoke.run_id, plan.devices, [SmokeVerdict.from_dict(v) for v in verdicts]).to_dict()
