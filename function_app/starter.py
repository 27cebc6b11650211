"""Starting runs exactly once and raising events on them, shared by the HTTP and Event Grid bindings."""

from __future__ import annotations

import logging

import azure.durable_functions as df

from contract import Event, Orchestrator, RunRequest
from orchestrations.retrying import RetryPlan, carry

log = logging.getLogger("function_app")
RUN_ORCHESTRATOR = Orchestrator.RUN


def settings_retry() -> RetryPlan:
    """The retry plan of the settings (``FACTORY_ACTIVITY_ATTEMPTS``, ``FACTORY_ACTIVITY_RETRY_SECONDS``)."""
    from factory.backends import services

    settings = services().settings
    return RetryPlan(settings.activity_attempts, int(settings.activity_retry_s * 1000))


async def start_run_once(client: df.DurableOrchestrationClient, run: RunRequest) -> bool:
    """Start the run under its deterministic instance id unless that instance exists already.

    Returns True when this call started it. A concurrent duplicate loses the race at ``start_new``
    (refused while the first is pending or running) and is treated as already started.
    """
    existing = await client.get_status(run.run_id)
    if existing and existing.runtime_status is not None:
        log.info("run %s exists already (%s); not starting it again", run.run_id, existing.runtime_status.name)
        return False
    try:
        await client.start_new(RUN_ORCHESTRATOR, run.run_id, carry(run.to_dict(), settings_retry()))
    except Exception as exc:  # the SDK raises a bare Exception when the id is taken
        log.info("run %s was started concurrently: %s", run.run_id, exc)
        return False
    log.info("started run %s for %s on %s", run.run_id, run.model, run.data_uri)
    return True


async def raise_on_run(client: df.DurableOrchestrationClient, run_id: str, event: Event, data: dict) -> bool:
    """Raise ``event`` on the run; an event no run waits for is logged and acknowledged (never retried)."""
    try:
        await client.raise_event(run_id, event, data)
    except Exception as exc:  # not found / already completed: nobody waits for it
        log.warning("event %s for run %s not delivered (acknowledged): %s", event, run_id, exc)
        return False
    return True
