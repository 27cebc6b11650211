"""The episode runner: one orchestration episode (new history events in, the SDK's replay, its actions scheduled,
the instance finished, terminated or continued as new)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from . import history as h
from .state import (
    COMPLETED,
    FAILED,
    PENDING,
    RUNNING,
    SUSPENDED,
    TERMINAL,
    TERMINATED,
    EngineState,
    Instance,
    Msg,
    as_text,
    new_engine_state,
)

log = logging.getLogger("devhost")


class Episodes(EngineState):
    """Runs orchestration episodes and finishes instances."""

    def _episode(self, instance_id: str, msgs: list[Msg]) -> None:
        inst = self._load(instance_id)
        if inst is None or inst.status in TERMINAL:
            self._delete_messages(msgs)
            return
        now = time.time()
        current = [m for m in msgs if m.execution_id in (None, inst.execution_id)]
        stale = [m for m in msgs if m.execution_id not in (None, inst.execution_id)]
        self._delete_messages(stale)
        controls = [m for m in current if m.kind != "event"]
        events = [m for m in current if m.kind == "event"]
        for ctl in controls:
            self._delete_messages([ctl])
            reason = ctl.body.get("reason") or ""
            if ctl.kind == "terminate":
                self._delete_messages(events)
                self._terminate(inst, reason, now)
                return
            if ctl.kind == "suspend" and inst.status != SUSPENDED:
                inst.history.append(h.event(h.EXECUTION_SUSPENDED, now, Reason=reason))
                inst.status = SUSPENDED
                inst.updated = now
                self._held.setdefault(instance_id, [])
            elif ctl.kind == "resume" and inst.status == SUSPENDED:
                inst.history.append(h.event(h.EXECUTION_RESUMED, now, Reason=reason))
                inst.status = RUNNING
                inst.updated = now
                events = events + self._held.pop(instance_id, [])
        self._dirty.add(inst.id)
        if inst.status == SUSPENDED:
            self._held.setdefault(instance_id, []).extend(events)
            return
        if not events:
            return
        self._delete_messages(events)
        self._run_episode(inst, [m.body for m in events], now)

    def _run_episode(self, inst: Instance, incoming: list[dict[str, Any]], now: float) -> None:
        retries = inst.eng["retries"]
        started = [e for e in incoming if e["EventType"] == h.EXECUTION_STARTED]
        consuming, normal = [], []
        for ev in incoming:
            if ev["EventType"] == h.EXECUTION_STARTED:
                continue
            if self._retry_consumes_id(retries, ev):
                consuming.append(ev)
            else:
                normal.append(ev)
        new_events = [h.event(h.ORCHESTRATOR_STARTED, now)] + started + consuming + normal
        decisions: list[dict[str, Any]] = []
        for ev in consuming:
            self._retry_step(inst, ev, decisions, now)
        for ev in normal:  # a retry that succeeded, or its last timer fired: the SDK settles the task
            if ev["EventType"] == h.TIMER_FIRED:
                retries.pop(str(ev.get("TimerId")), None)
            elif ev["EventType"] in (h.TASK_COMPLETED, h.SUB_ORCH_COMPLETED):
                retries.pop(str(ev.get("TaskScheduledId")), None)
        if inst.status == PENDING:
            inst.status = RUNNING
        inst.history.extend(new_events)
        fn = self.index.orchestrators[inst.name].func
        t0 = time.perf_counter()
        result = self.replayer.run(fn, inst.id, inst.execution_id, inst.input,
                                   inst.parent["id"] if inst.parent else None, inst.history, len(new_events))
        for ev in new_events:
            ev["IsPlayed"] = True
        state = result.state
        if state.get("customStatus") is not None:
            inst.custom_status = json.dumps(state["customStatus"])
        flat = list(h.flatten_actions(state.get("actions") or []))
        fresh = flat[inst.eng["n_actions"]:]
        inst.eng["n_actions"] = len(flat)
        continue_input: Any = None
        continued = False
        unsupported = None
        for action in fresh:
            kind = action.get("actionType")
            if kind in (h.CALL_ENTITY, h.SIGNAL_ENTITY, h.CALL_HTTP):
                unsupported = h.ACTION_NAMES.get(kind, str(kind))
                continue
            seq = inst.eng["next_seq"]
            if h.consumes_sequence_number(action):
                inst.eng["next_seq"] += 1
            if kind == h.ACTION_CONTINUE_AS_NEW:
                continued, continue_input = True, action.get("input")
            elif result.error is None and not continued:
                self._schedule(inst, action, seq, decisions, now)
        inst.history.extend(decisions)
        inst.history.append(h.event(h.ORCHESTRATOR_COMPLETED, now))
        self.replayer.note_appended(inst.id, len(decisions) + 1)
        inst.updated = now
        outcome = "Running"
        if unsupported and result.error is None:
            result.error = f"devhost does not support {unsupported} (Durable Entities / durable HTTP)"
        if result.error is not None:
            self._finish(inst, FAILED, json.dumps(f"Orchestrator function '{inst.name}' failed: {result.error}"),
                         now, error=result.error)
            outcome = "Failed"
        elif continued:
            self._continue_as_new(inst, continue_input, now)
            outcome = "ContinuedAsNew"
        elif state.get("isDone"):
            self._finish(inst, COMPLETED, json.dumps(state.get("output")), now)
            outcome = "Completed"
        log.info("orchestrator %s instance=%s episode %.1f ms -> %s", inst.name, inst.id,
                 (time.perf_counter() - t0) * 1000, outcome)

    # ---- completion ----------------------------------------------------------------------------------------
    def _finish(self, inst: Instance, status: str, output_json: str, now: float, error: str | None = None) -> None:
        inst.status = status
        inst.output = output_json
        inst.updated = now
        inst.history.append(h.event(h.EXECUTION_COMPLETED, now, OrchestrationStatus=status, Result=output_json))
        self.replayer.forget(inst.id)
        self._drop_instance_messages(inst.id)
        self.db.execute("DELETE FROM work WHERE instance_id=? AND execution_id=?", (inst.id, inst.execution_id))
        parent = inst.parent
        if parent:
            if status == COMPLETED:
                ev = h.event(h.SUB_ORCH_COMPLETED, now, TaskScheduledId=parent["task_id"], Result=output_json)
            else:
                reason = error or json.loads(output_json)
                ev = h.event(h.SUB_ORCH_FAILED, now, TaskScheduledId=parent["task_id"],
                             Reason=f"Sub-orchestration '{inst.name}' ({inst.id}) {status.lower()}: {reason}",
                             Details="")
            if self._load(parent["id"]) is not None:
                self._post(parent["id"], parent["execution_id"], "event", ev)
        self._persist(inst)

    def _terminate(self, inst: Instance, reason: str, now: float) -> None:
        inst.history.append(h.event(h.EXECUTION_TERMINATED, now, Input=reason))
        self._finish(inst, TERMINATED, json.dumps(reason), now, error=f"terminated: {reason}")
        log.info("orchestrator %s instance=%s terminated: %s", inst.name, inst.id, reason)

    def _continue_as_new(self, inst: Instance, input_text: Any, now: float) -> None:
        """Restart the instance with a fresh history; external events not yet consumed are kept."""
        self.replayer.forget(inst.id)
        carried = [m for m in self._ready.pop(inst.id, []) if m.kind == "event"
                   and m.body["EventType"] == h.EVENT_RAISED]
        self._drop_instance_messages(inst.id)
        self.db.execute("DELETE FROM history WHERE instance_id=?", (inst.id,))
        self.db.execute("DELETE FROM work WHERE instance_id=?", (inst.id,))
        inst.history = []
        inst.persisted = 0
        inst.execution_id = uuid.uuid4().hex
        inst.input = input_text
        inst.eng = new_engine_state()
        inst.status = RUNNING
        self._post(inst.id, inst.execution_id, "event", h.event(
            h.EXECUTION_STARTED, now, Name=inst.name, Version="", Input=as_text(input_text),
            OrchestrationInstance={"InstanceId": inst.id, "ExecutionId": inst.execution_id}, ParentInstance=None))
        for m in carried:
            self._post(inst.id, inst.execution_id, "event", m.body)
