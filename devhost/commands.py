"""Engine commands: what the Durable HTTP API and the client ask for (start, raise event, terminate / suspend /
resume, purge) and activity completions. Each runs on the engine thread inside its turn's transaction."""

from __future__ import annotations

import time
import uuid
from typing import Any

from . import history as h
from .state import ACTIVE, PENDING, TERMINAL, EngineError, EngineState, Instance, Work, as_text, new_engine_state


class Commands(EngineState):
    """The commands the HTTP API and activity workers submit to the engine thread."""

    def cmd_start(self, name: str, instance_id: str | None, input_value: Any,
                  parent: dict[str, Any] | None = None) -> str:
        """Create (or replace a finished) instance and queue its ExecutionStarted; refuses an active id (409)."""
        if name not in self.index.orchestrators:
            raise EngineError(400, f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
                                   "function. Additional info: no orchestrator by that name in the app.")
        instance_id = instance_id or uuid.uuid4().hex
        existing = self._load(instance_id)
        if existing is not None:
            if existing.status in ACTIVE:
                raise EngineError(409, f"An Orchestration instance with the status {existing.status} already "
                                       f"exists: instance id '{instance_id}'.")
            self._delete_instance_rows(instance_id)
        now = time.time()
        inst = Instance(instance_id, name, uuid.uuid4().hex, PENDING, input_value, None, None, now, now, parent,
                        new_engine_state())
        self._live[instance_id] = inst
        self._post(instance_id, inst.execution_id, "event", h.event(
            h.EXECUTION_STARTED, now, Name=name, Version="", Input=as_text(input_value),
            OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": inst.execution_id},
            ParentInstance=({"Name": parent.get("name"), "OrchestrationInstance": {"InstanceId": parent["id"]}}
                            if parent else None)))
        self._persist(inst)
        return instance_id

    def _require(self, instance_id: str) -> Instance:
        inst = self._load(instance_id)
        if inst is None:
            raise EngineError(404, f"No instance with ID '{instance_id}' found.")
        return inst

    def cmd_raise_event(self, instance_id: str, event_name: str, input_text: str | None) -> None:
        inst = self._require(instance_id)
        if inst.status in TERMINAL:
            raise EngineError(410, f"Instance with ID {instance_id} is gone: either completed or failed")
        self._post(instance_id, inst.execution_id, "event",
                   h.event(h.EVENT_RAISED, time.time(), Name=event_name, Input=input_text))

    def cmd_control(self, instance_id: str, kind: str, reason: str) -> None:
        """terminate / suspend / resume: 404 when unknown, 410 when already finished."""
        inst = self._require(instance_id)
        if inst.status in TERMINAL:
            raise EngineError(410, f"Instance with ID {instance_id} has already {inst.status.lower()}.")
        self._post(instance_id, inst.execution_id, kind, {"reason": reason})

    def cmd_purge(self, instance_id: str) -> int:
        """404 when unknown, 412 while it runs (only terminal instances are purged), else 1."""
        inst = self._load(instance_id)
        if inst is None:
            raise EngineError(404, f"No instance with ID '{instance_id}' found.")
        if inst.status not in TERMINAL:
            raise EngineError(412, f"Only orchestrations in a terminal state can be purged, but the orchestration "
                                   f"with instance ID {instance_id} has status {inst.status}")
        self._delete_instance_rows(instance_id)
        return 1

    def cmd_purge_by(self, statuses: list[str] | None, created_from: float | None, created_to: float | None) -> int:
        rows = self.store.query_instances(statuses or list(TERMINAL), created_from, created_to, conn=self.db)
        count = 0
        for row in rows:
            if row["status"] in TERMINAL:
                self._delete_instance_rows(row["id"])
                count += 1
        return count

    def cmd_activity_done(self, work: Work, event: dict[str, Any]) -> None:
        self.db.execute("DELETE FROM work WHERE id=?", (work.id,))
        inst = self._load(work.instance_id)
        if inst is None or inst.status in TERMINAL or inst.execution_id != work.execution_id:
            return
        self._post(work.instance_id, work.execution_id, "event", event)
