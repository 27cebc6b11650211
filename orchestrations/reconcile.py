# pyright: strict, reportMissingTypeStubs=false, reportUnknownMemberType=false
"""Waiting for an event without depending on its delivery: every ``ask_every_s`` (a durable timer) the run asks
the registry itself through an activity, and goes on with what it finds (``factory/reconciling.py``)."""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any, cast

import azure.durable_functions as df
from azure.durable_functions.models.Task import TimerTask

from contract import Activity, Event, Reconciled, unwrap_json
from orchestrations.retrying import RetryPlan


def wait_or_ask(context: df.DurableOrchestrationContext, names: list[Event], timeout_s: float, ask_every_s: float,
                ask: Activity, question: dict[str, Any], retry: RetryPlan
                ) -> Generator[Any, Any, tuple[Event | None, Any, bool]]:
    """The first of ``names`` to arrive, or what ``ask`` found for ``names[0]``, or the timeout. Returns
    ``(name, payload, asked)``: ``asked`` when the payload came from the activity, ``(None, None, False)`` on
    timeout. An ask that fails (after its retries) only means: keep waiting. Use with ``yield from``."""
    deadline = context.current_utc_datetime + timedelta(seconds=timeout_s)
    waits = {name: context.wait_for_external_event(name) for name in names}
    while True:
        step = timedelta(seconds=ask_every_s) if ask_every_s > 0 else timedelta(seconds=timeout_s)
        next_at = min(context.current_utc_datetime + step, deadline)
        timer = cast(TimerTask, context.create_timer(next_at))
        winner = yield context.task_any([*waits.values(), timer])
        if winner is not timer:
            timer.cancel()
            name = next(n for n, task in waits.items() if task is winner)
            return name, unwrap_json(winner.result), False
        if next_at >= deadline:
            return None, None, False
        try:
            found = Reconciled.from_dict((yield context.call_activity_with_retry(ask, retry.options(), question)))
        except Exception:  # the registry did not answer either: the event may still come, keep waiting
            found = Reconciled(False)
        if found.found:
            return names[0], found.event, True
