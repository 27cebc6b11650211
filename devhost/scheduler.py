"""The scheduler: an orchestrator's actions become activity work, sub-orchestrations and durable timers; host-side
retries (as the Durable Task Framework's retry interceptor) with back-off and retry timeout."""

from __future__ import annotations

import logging
from typing import Any

from . import history as h
from .state import EngineError, EngineState, Instance, Work

log = logging.getLogger("devhost")


class Scheduler(EngineState):
    """The scheduler: actions become activity work, sub-orchestrations and durable timers; host-side retries."""

    def _schedule(self, inst: Instance, action: dict[str, Any], seq: int, decisions: list[dict[str, Any]],
                  now: float) -> None:
        kind = action["actionType"]
        if kind in (h.CALL_ACTIVITY, h.CALL_ACTIVITY_WITH_RETRY):
            name = action.get("functionName")
            if kind == h.CALL_ACTIVITY_WITH_RETRY:
                inst.eng["retries"][str(seq)] = {
                    "kind": "activity", "name": name, "input": action.get("input"),
                    "options": action.get("retryOptions") or {}, "attempt": 1, "first": now, "state": "running"}
            self._schedule_activity(inst, name, action.get("input"), seq, decisions, now)
        elif kind in (h.CALL_SUB_ORCHESTRATOR, h.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
            name = action.get("functionName")
            child_id = action.get("instanceId")
            if kind == h.CALL_SUB_ORCHESTRATOR_WITH_RETRY:
                inst.eng["retries"][str(seq)] = {
                    "kind": "orchestrator", "name": name, "input": action.get("input"), "instance_id": child_id,
                    "options": action.get("retryOptions") or {}, "attempt": 1, "first": now, "state": "running"}
            self._schedule_sub_orchestration(inst, name, action.get("input"), child_id, seq, decisions, now)
        elif kind == h.CREATE_TIMER:
            fire_at = action.get("fireAt")
            decisions.append(h.event(h.TIMER_CREATED, now, seq, FireAt=fire_at))
            if not action.get("isCanceled"):
                self._post(inst.id, inst.execution_id, "event",
                           h.event(h.TIMER_FIRED, now, TimerId=seq, FireAt=fire_at), h.parse_time(fire_at))

    def _schedule_activity(self, inst: Instance, name: str, input_text: str | None, seq: int,
                           decisions: list[dict[str, Any]], now: float) -> None:
        decisions.append(h.event(h.TASK_SCHEDULED, now, seq, Name=name, Input=input_text))
        if name not in self.index.activities:
            self._post(inst.id, inst.execution_id, "event", h.event(
                h.TASK_FAILED, now, TaskScheduledId=seq,
                Reason=f"The activity function '{name}' doesn't exist, is disabled, or is not an activity function.",
                Details=None))
            return
        cur = self.db.execute("INSERT INTO work(instance_id, execution_id, task_id, name, input) VALUES (?,?,?,?,?)",
                              (inst.id, inst.execution_id, seq, name, input_text))
        work = Work(cur.lastrowid, inst.id, inst.execution_id, seq, name, input_text)
        self._after_commit.append(lambda: self.pool.submit(self._run_activity, work))

    def _schedule_sub_orchestration(self, inst: Instance, name: str, input_text: str | None, child_id: str | None,
                                    seq: int, decisions: list[dict[str, Any]], now: float) -> None:
        child_id = child_id or f"{inst.id}:{seq}"
        decisions.append(h.event(h.SUB_ORCH_CREATED, now, seq, Name=name, InstanceId=child_id, Input=input_text))
        parent = {"id": inst.id, "execution_id": inst.execution_id, "task_id": seq, "name": inst.name}
        try:
            self.cmd_start(name, child_id, input_text, parent)
        except EngineError as exc:
            self._post(inst.id, inst.execution_id, "event", h.event(
                h.SUB_ORCH_FAILED, now, TaskScheduledId=seq, Reason=str(exc), Details=None))

    # ---- retries (host side, as the Durable Task Framework's retry interceptor) ------------------------------
    @staticmethod
    def _retry_consumes_id(retries: dict[str, Any], ev: dict[str, Any]) -> bool:
        """Whether the SDK will allocate a task id while replaying `ev` (a retry timer or a re-attempt)."""
        et = ev["EventType"]
        if et in (h.TASK_FAILED, h.SUB_ORCH_FAILED):
            rec = retries.get(str(ev.get("TaskScheduledId")))
            return rec is not None and rec["state"] == "running"
        if et == h.TIMER_FIRED:
            rec = retries.get(str(ev.get("TimerId")))
            return rec is not None and rec["state"] == "timer" and rec["attempt"] < _max_attempts(rec)
        return False

    def _retry_step(self, inst: Instance, ev: dict[str, Any], decisions: list[dict[str, Any]], now: float) -> None:
        retries = inst.eng["retries"]
        et = ev["EventType"]
        if et in (h.TASK_FAILED, h.SUB_ORCH_FAILED):
            rec = retries.pop(str(ev["TaskScheduledId"]))
            timer_seq = inst.eng["next_seq"]
            inst.eng["next_seq"] += 1
            rec["last_reason"], rec["last_details"] = ev.get("Reason"), ev.get("Details")
            delay = _retry_delay(rec)
            expired = _retry_expired(rec, now + delay)
            if rec["attempt"] >= _max_attempts(rec) or expired:
                delay = 0.0  # no further attempt: the SDK only needs the timer to fire to surface the failure
                rec["exhausted"] = True
            fire_at = h.iso(now + delay)
            rec["state"] = "timer"
            retries[str(timer_seq)] = rec
            decisions.append(h.event(h.TIMER_CREATED, now, timer_seq, FireAt=fire_at))
            self._post(inst.id, inst.execution_id, "event",
                       h.event(h.TIMER_FIRED, now, TimerId=timer_seq, FireAt=fire_at), now + delay)
            log.info("retry %s instance=%s attempt %d failed; next in %.3f s", rec["name"], inst.id, rec["attempt"],
                     delay)
        elif et == h.TIMER_FIRED:
            rec = retries.pop(str(ev["TimerId"]))
            seq = inst.eng["next_seq"]
            inst.eng["next_seq"] += 1
            rec["attempt"] += 1
            rec["state"] = "running"
            retries[str(seq)] = rec
            if rec.get("exhausted"):  # retry timeout passed: the remaining attempts fail without running
                fail_type = h.TASK_FAILED if rec["kind"] == "activity" else h.SUB_ORCH_FAILED
                self._post(inst.id, inst.execution_id, "event", h.event(
                    fail_type, now, TaskScheduledId=seq, Reason=rec.get("last_reason"),
                    Details=rec.get("last_details")))
            elif rec["kind"] == "activity":
                self._schedule_activity(inst, rec["name"], rec["input"], seq, decisions, now)
            else:
                self._schedule_sub_orchestration(inst, rec["name"], rec["input"], rec.get("instance_id"), seq,
                                                 decisions, now)



def _max_attempts(rec: dict[str, Any]) -> int:
    return int(rec["options"].get("maxNumberOfAttempts") or 1)


def _retry_delay(rec: dict[str, Any]) -> float:
    """Seconds before the next attempt: first interval × backoff^(attempt-1), capped by the max interval."""
    opts = rec["options"]
    first = float(opts.get("firstRetryIntervalInMilliseconds") or 0)
    coefficient = float(opts.get("backoffCoefficient") or 1)
    delay = first * coefficient ** (rec["attempt"] - 1)
    cap = opts.get("maxRetryIntervalInMilliseconds")
    if cap:
        delay = min(delay, float(cap))
    return delay / 1000.0


def _retry_expired(rec: dict[str, Any], next_attempt_at: float) -> bool:
    timeout = rec["options"].get("retryTimeoutInMilliseconds")
    return bool(timeout) and next_attempt_at > rec["first"] + float(timeout) / 1000.0
