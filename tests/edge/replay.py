"""A minimal Durable replay driver for testing one orchestrator with the real ``azure-functions-durable`` SDK.

It does what the Durable extension does for an orchestrator that calls activities and durable timers one at a
time: keeps the history (ExecutionStarted, OrchestratorStarted/Completed, TaskScheduled/Completed/Failed,
TimerCreated/Fired), replays the generator through ``df.Orchestrator`` from the start on every episode,
runs the activities it asks for (plain Python callables given by the test), and fires timers either on a
virtual clock (fast unit tests) or on the wall clock (tests against real containers). External events: a wait
(``wait_for_external_event``) takes no task id; ``events`` raises ``(name, payload)`` pairs in order, each in
the first episode that waits for its name (``(name, payload, activity)``: and after ``activity`` was called),
instead of firing that episode's timers.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import azure.durable_functions as df


def _ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _atomic(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Compound actions (task_all/task_any, activity retries) flattened: only atomic tasks get task ids."""
    flat: list[dict[str, Any]] = []
    for action in actions:
        flat += _atomic(action["compoundActions"]) if "compoundActions" in action else [action]
    return flat


@dataclass
class ReplayResult:
    output: Any
    calls: list[tuple[str, Any]]  # (activity name, input) in call order
    timers: list[dt.datetime]
    custom_status: Any
    episodes: int
    history: list[dict[str, Any]] = field(repr=False, default_factory=list)

    def activity_names(self) -> list[str]:
        return [name for name, _ in self.calls]


def run_orchestrator(fn: Callable[..., Any], orchestration_input: Any, activities: dict[str, Callable[[Any], Any]],
                     *, real_time: bool = False, start: dt.datetime | None = None,
                     max_episodes: int = 500, events: list[tuple[Any, ...]] | None = None) -> ReplayResult:
    """Run ``fn`` to completion; raises ``RuntimeError`` with the orchestrator's error if it failed."""
    handle = df.Orchestrator.create(fn)
    now = start or (dt.datetime.now(dt.UTC) if real_time else dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    history: list[dict[str, Any]] = [
        {"EventType": 12, "EventId": -1, "IsPlayed": False, "Timestamp": _ts(now)},
        {"EventType": 0, "EventId": -1, "IsPlayed": False, "Timestamp": _ts(now), "Name": fn.__name__,
         "Input": json.dumps(orchestration_input), "Version": ""},
    ]
    calls: list[tuple[str, Any]] = []
    timers: list[dt.datetime] = []
    seen_actions = 0
    pending_events = list(events or [])
    next_id = 0  # the SDK's task ids: one per action, and one per retry timer and re-attempt
    for episode in range(1, max_episodes + 1):
        context = {"history": history, "input": json.dumps(orchestration_input), "instanceId": "edge-test",
                   "isReplaying": False, "parentInstanceId": None, "upperSchemaVersion": 1}
        try:
            state = json.loads(handle(json.dumps(context)))
        except Exception as exc:  # the SDK raises the orchestrator's exception with its state appended
            raise RuntimeError(f"orchestrator failed: {str(exc).split(chr(10))[0]}") from exc
        if state.get("error"):
            raise RuntimeError(f"orchestrator failed: {state['error']}")
        if state.get("isDone"):
            return ReplayResult(state.get("output"), calls, timers, state.get("customStatus"), episode, history)
        every = _atomic([a for group in state["actions"] for a in (group if isinstance(group, list) else [group])])
        actions = [a for a in every if a["actionType"] != 6]  # event waits are matched by name, not task id
        waiting_for = {a["externalEventName"] for a in every if a["actionType"] == 6}
        new_actions = actions[seen_actions:]
        due = pending_events and pending_events[0][0] in waiting_for and (
            len(pending_events[0]) < 3 or pending_events[0][2] in {name for name, _ in calls})
        raised = pending_events[0] if due else None
        if not new_actions and raised is None:
            raise RuntimeError("orchestrator is waiting but scheduled nothing new")
        for event in history:
            event["IsPlayed"] = True
        history.append({"EventType": 13, "EventId": -1, "IsPlayed": False, "Timestamp": _ts(now)})
        completions: list[dict[str, Any]] = []
        first_id, next_id = next_id, next_id + len(new_actions)  # the SDK numbers this episode's tasks first
        for offset, action in enumerate(new_actions):
            task_id = first_id + offset
            kind = action["actionType"]
            if kind in (0, 1):  # call activity; with retry (1), the attempts as the extension makes them
                name, arg = action["functionName"], json.loads(action["input"]) if action.get("input") else None
                history.append({"EventType": 4, "EventId": task_id, "IsPlayed": False, "Timestamp": _ts(now),
                                "Name": name})
                options = action.get("retryOptions") or {} if kind == 1 else {}
                attempts = int(options.get("maxNumberOfAttempts") or 1)
                delay = dt.timedelta(milliseconds=float(options.get("firstRetryIntervalInMilliseconds") or 0))
                for attempt in range(1, attempts + 1):
                    calls.append((name, arg))
                    try:
                        result = activities[name](arg)
                    except Exception as exc:  # the activity failed: the orchestrator sees TaskFailed
                        completions.append({"EventType": 6, "EventId": -1, "IsPlayed": False,
                                            "TaskScheduledId": task_id, "Reason": f"{type(exc).__name__}: {exc}",
                                            "Details": ""})
                        if kind == 0:
                            break
                        # the retry timer (the SDK allocates its id when it sees the failure), then the next
                        # attempt (its id when the timer fires); after the last attempt one more timer, at once
                        last = attempt == attempts
                        fire_at = now + (dt.timedelta(0) if last else delay)
                        if real_time:
                            time.sleep(0 if last else delay.total_seconds())
                        completions.append({"EventType": 11, "EventId": -1, "IsPlayed": False, "TimerId": next_id,
                                            "FireAt": _ts(fire_at)})
                        now, next_id = max(now, fire_at), next_id + 1
                        if last:
                            break
                        task_id, next_id = next_id, next_id + 1
                    else:
                        completions.append({"EventType": 5, "EventId": -1, "IsPlayed": False,
                                            "TaskScheduledId": task_id, "Result": json.dumps(result)})
                        break
            elif kind == 5:  # durable timer
                fire_at = _parse(action["fireAt"])
                timers.append(fire_at)
                history.append({"EventType": 10, "EventId": task_id, "IsPlayed": False, "Timestamp": _ts(now),
                                "FireAt": _ts(fire_at)})
                if raised is not None:  # the event comes first; this timer never fires
                    continue
                if real_time:
                    time.sleep(max(0.0, (fire_at - dt.datetime.now(dt.UTC)).total_seconds()))
                now = max(now, fire_at)
                completions.append({"EventType": 11, "EventId": -1, "IsPlayed": False, "TimerId": task_id,
                                    "FireAt": _ts(fire_at)})
            else:
                raise RuntimeError(f"replay driver does not support action type {kind}: {action}")
        if raised is not None:
            pending_events.pop(0)
            completions.insert(0, {"EventType": 15, "EventId": -1, "IsPlayed": False, "Name": raised[0],
                                   "Input": json.dumps(raised[1])})
        seen_actions = len(actions)
        if real_time:
            now = max(now, dt.datetime.now(dt.UTC))
        history.append({"EventType": 12, "EventId": -1, "IsPlayed": False, "Timestamp": _ts(now)})
        for completion in completions:
            completion["Timestamp"] = _ts(now)
            history.append(completion)
    raise RuntimeError(f"orchestrator did not finish within {max_episodes} episodes")
