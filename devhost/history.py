"""Durable Task history events in the JSON shape the `azure-functions-durable` SDK replays, and the actions it
returns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

EXECUTION_STARTED = 0
EXECUTION_COMPLETED = 1
EXECUTION_FAILED = 2
EXECUTION_TERMINATED = 3
TASK_SCHEDULED = 4
TASK_COMPLETED = 5
TASK_FAILED = 6
SUB_ORCH_CREATED = 7
SUB_ORCH_COMPLETED = 8
SUB_ORCH_FAILED = 9
TIMER_CREATED = 10
TIMER_FIRED = 11
ORCHESTRATOR_STARTED = 12
ORCHESTRATOR_COMPLETED = 13
EVENT_RAISED = 15
CONTINUE_AS_NEW = 16
EXECUTION_SUSPENDED = 19
EXECUTION_RESUMED = 20

EVENT_TYPE_NAMES = {
    0: "ExecutionStarted", 1: "ExecutionCompleted", 2: "ExecutionFailed", 3: "ExecutionTerminated",
    4: "TaskScheduled", 5: "TaskCompleted", 6: "TaskFailed", 7: "SubOrchestrationInstanceCreated",
    8: "SubOrchestrationInstanceCompleted", 9: "SubOrchestrationInstanceFailed", 10: "TimerCreated",
    11: "TimerFired", 12: "OrchestratorStarted", 13: "OrchestratorCompleted", 14: "EventSent", 15: "EventRaised",
    16: "ContinueAsNew", 17: "GenericEvent", 18: "HistoryState", 19: "ExecutionSuspended", 20: "ExecutionResumed",
}

# Action types (azure.durable_functions.models.actions.ActionType)
CALL_ACTIVITY = 0
CALL_ACTIVITY_WITH_RETRY = 1
CALL_SUB_ORCHESTRATOR = 2
CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
ACTION_CONTINUE_AS_NEW = 4
CREATE_TIMER = 5
WAIT_FOR_EXTERNAL_EVENT = 6
CALL_ENTITY = 7
CALL_HTTP = 8
SIGNAL_ENTITY = 9
WHEN_ANY = 11
WHEN_ALL = 12

ACTION_NAMES = {
    0: "call_activity", 1: "call_activity_with_retry", 2: "call_sub_orchestrator",
    3: "call_sub_orchestrator_with_retry", 4: "continue_as_new", 5: "create_timer", 6: "wait_for_external_event",
    7: "call_entity", 8: "call_http", 9: "signal_entity", 11: "task_any", 12: "task_all",
}

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def iso(ts: float) -> str:
    """Epoch seconds → the ISO-8601 UTC form the SDK writes and parses ("...T..:..:..ffffffZ")."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime(DATETIME_FORMAT)


def parse_time(text: str) -> float:
    """ISO-8601 timestamp (with Z or offset; naive means UTC) → epoch seconds."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def event(event_type: int, ts: float, event_id: int = -1, **fields: Any) -> dict[str, Any]:
    """A history event dict; `IsPlayed` starts False and becomes True once an episode has seen it."""
    return {"EventType": event_type, "EventId": event_id, "IsPlayed": False, "Timestamp": iso(ts), **fields}


def flatten_actions(actions: list[Any]) -> Iterator[dict[str, Any]]:
    """Leaf actions in the order the SDK assigned their sequence numbers (depth-first through task_all/any)."""
    for item in actions:
        if isinstance(item, list):
            yield from flatten_actions(item)
        elif item.get("actionType") in (WHEN_ANY, WHEN_ALL):
            yield from flatten_actions(item.get("compoundActions") or [])
        else:
            yield item


def consumes_sequence_number(action: dict[str, Any]) -> bool:
    """Whether the SDK gave this action a task id (everything but wait_for_external_event)."""
    return action.get("actionType") != WAIT_FOR_EXTERNAL_EVENT
