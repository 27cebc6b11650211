# pyright: strict, reportMissingTypeStubs=false, reportUnknownMemberType=false
"""Waiting for external events with a durable deadline."""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any, cast

import azure.durable_functions as df
from azure.durable_functions.models.Task import TimerTask

from contract import Event, unwrap_json


def wait_for_any_event(context: df.DurableOrchestrationContext, names: list[Event],
                       timeout_s: float) -> Generator[Any, Any, tuple[Event | None, Any]]:
    """Wait for the first of ``names`` or the timeout. Returns ``(name, payload)``, ``(None, None)`` on timeout.

    Use with ``yield from``. The timer is cancelled when an event wins, so the orchestration can end.
    """
    timer = cast(TimerTask, context.create_timer(context.current_utc_datetime + timedelta(seconds=timeout_s)))
    waits = {name: context.wait_for_external_event(name) for name in names}
    winner = yield context.task_any([*waits.values(), timer])
    if winner is timer:
        return None, None
    timer.cancel()
    name = next(n for n, task in waits.items() if task is winner)
    return name, unwrap_json(winner.result)
