# pyright: strict, reportMissingTypeStubs=false, reportUnknownMemberType=false
"""The retry plan every activity call of a run follows, carried in each orchestration's input.

The settings (``FACTORY_ACTIVITY_ATTEMPTS``, ``FACTORY_ACTIVITY_RETRY_SECONDS``) are read where a run starts
(``function_app.starter``, a binding) and put in the run's input under ``retry``; the run hands the same plan
to its approval and edge sub-orchestrations, so ``plan_run`` (which reads every other setting) is retried as
the settings say too, and no orchestrator reads a setting itself. Inputs without one (an instance started
by hand through the Durable API) get the settings' defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import azure.durable_functions as df

from contract import Record

KEY = "retry"  # the field of an orchestration's input that carries the plan


@dataclass(frozen=True)
class RetryPlan(Record):
    """Tries of each activity (they are idempotent, so a retry after a partial attempt is safe) and the delay
    between them (the Python SDK has no back-off coefficient)."""

    attempts: int = 3
    interval_ms: int = 5000

    def options(self, at_least: int = 1) -> df.RetryOptions:
        """The SDK's retry options; ``at_least`` raises the attempts for calls that must not give up early."""
        return df.RetryOptions(first_retry_interval_in_milliseconds=max(1, self.interval_ms),
                               max_number_of_attempts=max(1, self.attempts, at_least))


def carried(orchestration_input: Any) -> RetryPlan:
    """The plan an orchestration's input carries (the defaults when it carries none)."""
    if not isinstance(orchestration_input, dict):
        return RetryPlan()
    fields = cast(dict[str, Any], orchestration_input).get(KEY)
    return RetryPlan.from_dict(cast(dict[str, Any], fields)) if isinstance(fields, dict) else RetryPlan()


def carry(payload: dict[str, Any], plan: RetryPlan) -> dict[str, Any]:
    """``payload`` with ``plan`` in it, for a sub-orchestration's input (records ignore the extra field)."""
    return {**payload, KEY: plan.to_dict()}
