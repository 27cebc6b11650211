"""Running an orchestrator function through the real `azure-functions-durable` SDK.

Two ways, same SDK code:
- full replay: the orchestration trigger's user function gets the context JSON (whole history) and returns the
  orchestrator state JSON, exactly the worker protocol;
- session replay (default, like the host's extended sessions): the first episode after a (re)start is a full
  replay through the SDK's own `DurableOrchestrationContext` + `TaskOrchestrationExecutor` (what the user
  function does inside), and the live executor is kept in memory; later episodes feed it only the new history
  events. Cost per episode is then proportional to the new events, not to the history length. Any doubt
  (cache miss, other execution, eviction) falls back to a full replay from the persisted history.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from azure.durable_functions.models.DurableOrchestrationContext import DurableOrchestrationContext
from azure.durable_functions.models.history.HistoryEvent import HistoryEvent
from azure.durable_functions.models.TaskOrchestrationExecutor import TaskOrchestrationExecutor
from azure.functions._durable_functions import OrchestrationContext

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"
SCHEMA_VERSION = 1  # ReplaySchema.V2: actions as one append-only list with task_all/task_any as compound actions


@dataclass
class EpisodeResult:
    """What the orchestrator decided: its state JSON parsed, plus the error text when it raised."""

    state: dict[str, Any]
    error: str | None


@dataclass
class _Session:
    execution_id: str
    events_seen: int
    context: DurableOrchestrationContext
    executor: TaskOrchestrationExecutor


def context_json(instance_id: str, input_value: Any, parent_id: str | None, history: list[dict[str, Any]]) -> str:
    """The orchestration trigger's context JSON, as the Durable extension sends it to the Python worker."""
    return json.dumps({
        "history": history,
        "input": input_value,
        "instanceId": instance_id,
        "isReplaying": False,
        "parentInstanceId": parent_id,
        "upperSchemaVersion": SCHEMA_VERSION,
    })


def _parse_state(text: str) -> dict[str, Any]:
    return json.loads(text)


def _from_exception(exc: Exception) -> EpisodeResult:
    message = str(exc)
    if OUT_OF_PROC_MARKER in message:
        error, state_text = message.split(OUT_OF_PROC_MARKER, 1)
        try:
            state = json.loads(state_text)
        except ValueError:
            state = {"isDone": False, "actions": []}
        return EpisodeResult(state, state.get("error") or error)
    return EpisodeResult({"isDone": False, "actions": []}, f"{type(exc).__name__}: {exc}")


class Replayer:
    """Runs episodes of orchestrator functions; keeps live sessions unless `full_replay` is set."""

    def __init__(self, full_replay: bool = False, max_sessions: int = 2000) -> None:
        self.full_replay = full_replay
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, _Session] = OrderedDict()

    def forget(self, instance_id: str) -> None:
        self._sessions.pop(instance_id, None)

    def run(
        self,
        user_function: Any,
        instance_id: str,
        execution_id: str,
        input_value: Any,
        parent_id: str | None,
        history: list[dict[str, Any]],
        new_count: int,
    ) -> EpisodeResult:
        """Run one episode: `history` ends with `new_count` events the orchestrator has not seen yet."""
        if self.full_replay:
            body = context_json(instance_id, input_value, parent_id, history)
            try:
                return EpisodeResult(_parse_state(user_function(OrchestrationContext(body))), None)
            except Exception as exc:  # the SDK raises with the state JSON appended
                return _from_exception(exc)
        session = self._sessions.get(instance_id)
        if session and session.execution_id == execution_id and session.events_seen == len(history) - new_count:
            self._sessions.move_to_end(instance_id)
            return self._continue(session, history[-new_count:], instance_id)
        return self._start(user_function, instance_id, execution_id, input_value, parent_id, history)

    def _start(self, user_function: Any, instance_id: str, execution_id: str, input_value: Any,
               parent_id: str | None, history: list[dict[str, Any]]) -> EpisodeResult:
        generator_fn = getattr(user_function, "orchestrator_function", None)
        if generator_fn is None:  # not an SDK-built handle: only the JSON protocol is available
            body = context_json(instance_id, input_value, parent_id, history)
            try:
                return EpisodeResult(_parse_state(user_function(OrchestrationContext(body))), None)
            except Exception as exc:
                return _from_exception(exc)
        ctx = DurableOrchestrationContext.from_json(context_json(instance_id, input_value, parent_id, history))
        ctx._input_expected_type = getattr(user_function, "_df_input_type", None)
        executor = TaskOrchestrationExecutor()
        try:
            state_text = executor.execute(ctx, ctx.histories, generator_fn)
        except Exception as exc:
            self.forget(instance_id)
            return _from_exception(exc)
        result = EpisodeResult(_parse_state(state_text), None)
        if not result.state.get("isDone"):
            self._sessions[instance_id] = _Session(execution_id, len(history), ctx, executor)
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return result

    def _continue(self, session: _Session, new_events: list[dict[str, Any]], instance_id: str) -> EpisodeResult:
        executor = session.executor
        parsed = [HistoryEvent(**e) for e in new_events]
        session.context._histories.extend(parsed)
        executor._is_processing_new_events = True
        for ev in parsed:
            executor.process_event(ev)
            if executor.has_execution_completed:
                break
        session.events_seen += len(new_events)
        try:
            result = EpisodeResult(_parse_state(executor.get_orchestrator_state_str()), None)
        except Exception as exc:
            self.forget(instance_id)
            return _from_exception(exc)
        if result.state.get("isDone"):
            self.forget(instance_id)
        return result

    def note_appended(self, instance_id: str, count: int) -> None:
        """The host appended `count` decision events (TaskScheduled, ...) the session should count as seen."""
        session = self._sessions.get(instance_id)
        if session:
            session.events_seen += count
