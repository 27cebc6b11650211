"""The Durable engine: orchestration episodes, activity work, durable timers, external events, retries,
sub-orchestrations, continue-as-new, terminate/suspend/resume/purge.

One engine thread owns all state changes. Everything else (HTTP handlers, activity workers) sends it commands.
Each loop turn applies a batch of commands, fires due timers, runs every orchestration episode that has new
messages, and commits once: a turn is atomic across `kill -9`. Completed activity results are committed (as inbox
messages) before they are acknowledged; work items are deleted in the same commit. After a restart, inbox
messages are replayed, due timers fire and unfinished activity work is re-run (at-least-once).
"""

from __future__ import annotations

import heapq
import json
import logging
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from . import history as h
from .appindex import AppIndex
from .invoke import build_kwargs, call_from_thread, input_binding_values
from .replay import Replayer
from .store import Store

log = logging.getLogger("devhost")

PENDING, RUNNING, COMPLETED, FAILED, TERMINATED, SUSPENDED = (
    "Pending", "Running", "Completed", "Failed", "Terminated", "Suspended")
ACTIVE = (PENDING, RUNNING, SUSPENDED)
TERMINAL = (COMPLETED, FAILED, TERMINATED)


class EngineError(Exception):
    """A request the engine refuses; `status` is the HTTP status the Durable API answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Msg:
    """An inbox message for one instance: a history event to deliver, or a control request."""

    id: int
    instance_id: str
    execution_id: str | None
    kind: str  # "event" | "terminate" | "suspend" | "resume"
    body: dict[str, Any]
    visible_at: float


@dataclass
class Instance:
    """A live orchestration instance: its row plus the in-memory history and engine bookkeeping."""

    id: str
    name: str
    execution_id: str
    status: str
    input: Any
    output: str | None
    custom_status: str | None
    created: float
    updated: float
    parent: dict[str, Any] | None
    eng: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    persisted: int = 0  # history events already in the database


@dataclass
class Work:
    """An activity invocation to run (or re-run after a restart)."""

    id: int
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None


def _new_engine_state() -> dict[str, Any]:
    return {"next_seq": 0, "n_actions": 0, "retries": {}}


class Engine:
    """Durable orchestrations on SQLite. Start with `start()`, stop with `stop()`."""

    def __init__(self, store: Store, index: AppIndex, app_dir: Path, workers: int = 4,
                 full_replay: bool = False) -> None:
        self.store = store
        self.db = store.writer
        self.index = index
        self.app_dir = app_dir
        self.replayer = Replayer(full_replay=full_replay)
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="activity")
        self.loop = None  # the HTTP server's asyncio loop, for async activity functions
        self._cmds: queue.SimpleQueue = queue.SimpleQueue()
        self._ready: dict[str, list[Msg]] = {}
        self._held: dict[str, list[Msg]] = {}  # messages for suspended instances
        self._timers: list[tuple[float, int, str]] = []
        self._timer_msgs: dict[int, Msg] = {}
        self._live: dict[str, Instance] = {}
        self._dirty: set[str] = set()
        self._current: str | None = None  # the instance whose episode is running (to quarantine it on a bug)
        self._after_commit: list[Callable[[], None]] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.client_json: Callable[[], str] | None = None  # the durableClient binding value, set by the host

    # ---- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Load pending messages, timers and activity work from the database, then run the engine thread."""
        now = time.time()
        for mid, iid, eid, visible_at, kind, body in self.db.execute(
                "SELECT id, instance_id, execution_id, visible_at, kind, body FROM messages ORDER BY id"):
            msg = Msg(mid, iid, eid, kind, json.loads(body), visible_at)
            if visible_at > now:
                self._add_timer(msg)
            else:
                self._ready.setdefault(iid, []).append(msg)
        for iid, status in self.db.execute("SELECT id, status FROM instances WHERE status=?", (SUSPENDED,)):
            if iid in self._ready and status == SUSPENDED:
                held = [m for m in self._ready[iid] if m.kind == "event"]
                rest = [m for m in self._ready[iid] if m.kind != "event"]
                self._held[iid] = held
                if rest:
                    self._ready[iid] = rest
                else:
                    del self._ready[iid]
        pending_work = [Work(*row) for row in self.db.execute(
            "SELECT id, instance_id, execution_id, task_id, name, input FROM work ORDER BY id")]
        if pending_work:
            log.info("resuming %d activity invocation(s) left unfinished", len(pending_work))
        for w in pending_work:
            self.pool.submit(self._run_activity, w)
        self._thread = threading.Thread(target=self._main, name="durable-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._cmds.put(None)
        if self._thread:
            self._thread.join(timeout=10)
        self.pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run `fn(*args)` on the engine thread inside its next transaction; the future resolves after commit."""
        fut: Future = Future()
        self._cmds.put((fn, args, fut))
        return fut

    # ---- engine thread -----------------------------------------------------------------------------------------
    def _main(self) -> None:
        while True:
            timeout = 0.5
            if self._timers:
                timeout = max(0.0, min(timeout, self._timers[0][0] - time.time()))
            batch = []
            try:
                first = self._cmds.get(timeout=timeout)
                if first is None:
                    return
                batch.append(first)
                while len(batch) < 2000:
                    nxt = self._cmds.get_nowait()
                    if nxt is None:
                        self._stopping = True
                        break
                    batch.append(nxt)
            except queue.Empty:
                pass
            self._turn(batch)
            if self._stopping:
                return

    def _turn(self, batch: list[tuple[Callable[..., Any], tuple, Future]]) -> None:
        results: list[tuple[Future, Any, BaseException | None]] = []
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for fn, args, fut in batch:
                try:
                    results.append((fut, fn(*args), None))
                except EngineError as exc:
                    results.append((fut, None, exc))
            self._fire_due_timers()
            guard = 0
            while self._ready and guard < 100000:
                iid, msgs = self._ready.popitem()
                guard += 1
                self._current = iid
                self._episode(iid, msgs)
            self._current = None
            for iid in self._dirty:
                inst = self._live.get(iid)
                if inst is not None:
                    self._persist(inst)
            self._dirty.clear()
            self.db.execute("COMMIT")
        except BaseException as exc:  # an engine bug: roll back, reload state from disk, fail the requests
            log.error("durable engine turn failed, rolled back: %s\n%s", exc, traceback.format_exc())
            self.db.execute("ROLLBACK")
            self._reload_after_failure()
            for fut, _res, _err in results:
                if not fut.done():
                    fut.set_exception(EngineError(500, f"devhost engine error: {exc}"))
            for _fn, _args, fut in batch:
                if not fut.done():
                    fut.set_exception(EngineError(500, f"devhost engine error: {exc}"))
            self._after_commit.clear()
            culprit, self._current = self._current, None
            if culprit is not None:
                self._quarantine(culprit, exc)
            return
        for fut, res, err in results:
            if err is not None:
                fut.set_exception(err)
            else:
                fut.set_result(res)
        actions, self._after_commit = self._after_commit, []
        for action in actions:
            action()

    def _quarantine(self, instance_id: str, exc: BaseException) -> None:
        """Fail the instance whose episode broke the engine, so one bad instance cannot stall the others."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            inst = self._load(instance_id)
            if inst is not None and inst.status in ACTIVE:
                self._finish(inst, FAILED, json.dumps(f"devhost internal error in orchestrator '{inst.name}': "
                                                      f"{type(exc).__name__}: {exc}"), time.time(),
                             error=f"devhost internal error: {exc}")
            else:
                self._drop_instance_messages(instance_id)
            self.db.execute("COMMIT")
        except BaseException:
            log.error("could not mark instance %s failed:\n%s", instance_id, traceback.format_exc())
            self.db.execute("ROLLBACK")
            self._reload_after_failure()
        self._after_commit.clear()

    def _reload_after_failure(self) -> None:
        self._ready.clear()
        self._held.clear()
        self._timers.clear()
        self._timer_msgs.clear()
        self._live.clear()
        self._dirty.clear()
        self.replayer = Replayer(full_replay=self.replayer.full_replay)
        now = time.time()
        for mid, iid, eid, visible_at, kind, body in self.db.execute(
                "SELECT id, instance_id, execution_id, visible_at, kind, body FROM messages ORDER BY id"):
            msg = Msg(mid, iid, eid, kind, json.loads(body), visible_at)
            if visible_at > now:
                self._add_timer(msg)
            else:
                self._ready.setdefault(iid, []).append(msg)

    # ---- messages and timers -------------------------------------------------------------------------------------
    def _post(self, instance_id: str, execution_id: str | None, kind: str, body: dict[str, Any],
              visible_at: float | None = None) -> Msg:
        now = time.time()
        at = visible_at if visible_at is not None else now
        cur = self.db.execute(
            "INSERT INTO messages(instance_id, execution_id, visible_at, kind, body) VALUES (?,?,?,?,?)",
            (instance_id, execution_id, at, kind, json.dumps(body)))
        msg = Msg(cur.lastrowid, instance_id, execution_id, kind, body, at)
        if at > now:
            self._add_timer(msg)
        elif instance_id in self._held and kind == "event":
            self._held[instance_id].append(msg)
        else:
            self._ready.setdefault(instance_id, []).append(msg)
        return msg

    def _add_timer(self, msg: Msg) -> None:
        self._timer_msgs[msg.id] = msg
        heapq.heappush(self._timers, (msg.visible_at, msg.id, msg.instance_id))

    def _fire_due_timers(self) -> None:
        now = time.time()
        while self._timers and self._timers[0][0] <= now:
            _, mid, iid = heapq.heappop(self._timers)
            msg = self._timer_msgs.pop(mid, None)
            if msg is None:
                continue
            if iid in self._held:
                self._held[iid].append(msg)
            else:
                self._ready.setdefault(iid, []).append(msg)

    def _delete_messages(self, msgs: list[Msg]) -> None:
        if msgs:
            self.db.executemany("DELETE FROM messages WHERE id=?", [(m.id,) for m in msgs])

    def _drop_instance_messages(self, instance_id: str) -> None:
        self.db.execute("DELETE FROM messages WHERE instance_id=?", (instance_id,))
        self._ready.pop(instance_id, None)
        self._held.pop(instance_id, None)
        for mid in [mid for mid, m in self._timer_msgs.items() if m.instance_id == instance_id]:
            del self._timer_msgs[mid]

    # ---- instances -------------------------------------------------------------------------------------------
    def _load(self, instance_id: str) -> Instance | None:
        inst = self._live.get(instance_id)
        if inst is not None:
            return inst
        row = self.db.execute(
            "SELECT id, name, execution_id, status, input, output, custom_status, created, updated, parent, engine "
            "FROM instances WHERE id=?", (instance_id,)).fetchone()
        if row is None:
            return None
        inst = Instance(row[0], row[1], row[2], row[3], json.loads(row[4]) if row[4] is not None else None, row[5],
                        row[6], row[7], row[8], json.loads(row[9]) if row[9] else None, json.loads(row[10]))
        if inst.status in ACTIVE:
            inst.history = [json.loads(r[0]) for r in self.db.execute(
                "SELECT event FROM history WHERE instance_id=? ORDER BY seq", (instance_id,))]
            inst.persisted = len(inst.history)
            self._live[instance_id] = inst
        return inst

    def _persist(self, inst: Instance) -> None:
        new = inst.history[inst.persisted:]
        if new:
            self.db.executemany(
                "INSERT OR REPLACE INTO history(instance_id, seq, event) VALUES (?,?,?)",
                [(inst.id, inst.persisted + i, json.dumps(ev)) for i, ev in enumerate(new)])
            inst.persisted = len(inst.history)
        self.db.execute(
            "INSERT OR REPLACE INTO instances(id, name, execution_id, status, input, output, custom_status, created, "
            "updated, parent, engine) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (inst.id, inst.name, inst.execution_id, inst.status, json.dumps(inst.input), inst.output,
             inst.custom_status, inst.created, inst.updated, json.dumps(inst.parent) if inst.parent else None,
             json.dumps(inst.eng)))
        if inst.status in TERMINAL:
            self._live.pop(inst.id, None)

    def _delete_instance_rows(self, instance_id: str) -> None:
        self.db.execute("DELETE FROM history WHERE instance_id=?", (instance_id,))
        self.db.execute("DELETE FROM instances WHERE id=?", (instance_id,))
        self.db.execute("DELETE FROM work WHERE instance_id=?", (instance_id,))
        self._drop_instance_messages(instance_id)
        self._live.pop(instance_id, None)
        self.replayer.forget(instance_id)

    # ---- commands (run on the engine thread) ---------------------------------------------------------------
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
                        _new_engine_state())
        self._live[instance_id] = inst
        self._post(instance_id, inst.execution_id, "event", h.event(
            h.EXECUTION_STARTED, now, Name=name, Version="", Input=_as_text(input_value),
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
        if self._load(instance_id) is None:
            raise EngineError(404, f"No instance with ID '{instance_id}' found.")
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

    # ---- episodes --------------------------------------------------------------------------------------------
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

    # ---- actions -------------------------------------------------------------------------------------------
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
        inst.eng = _new_engine_state()
        inst.status = RUNNING
        self._post(inst.id, inst.execution_id, "event", h.event(
            h.EXECUTION_STARTED, now, Name=inst.name, Version="", Input=_as_text(input_text),
            OrchestrationInstance={"InstanceId": inst.id, "ExecutionId": inst.execution_id}, ParentInstance=None))
        for m in carried:
            self._post(inst.id, inst.execution_id, "event", m.body)

    # ---- activities (worker threads) -------------------------------------------------------------------------
    def _run_activity(self, work: Work) -> None:
        fn = self.index.activities.get(work.name)
        t0 = time.perf_counter()
        outcome = "Succeeded"
        try:
            if fn is None:
                raise RuntimeError(f"The activity function '{work.name}' doesn't exist in the app")
            param = fn.trigger["name"]
            arg = ActivityTriggerConverter.decode(meta.Datum(type="json", value=work.input or "null"),
                                                  trigger_metadata=None)
            args = {param: arg, **input_binding_values(fn, self.client_json)}
            kwargs = build_kwargs(fn.func, args, work.name, self.app_dir)
            result = call_from_thread(fn.func, kwargs, self.loop)
            encoded = ActivityTriggerConverter.encode(result, expected_type=None).value
            event = h.event(h.TASK_COMPLETED, time.time(), TaskScheduledId=work.task_id, Result=encoded)
        except Exception as exc:
            outcome = f"Failed ({type(exc).__name__}: {exc})"
            event = h.event(h.TASK_FAILED, time.time(), TaskScheduledId=work.task_id,
                            Reason=f"Activity function '{work.name}' failed: {type(exc).__name__}: {exc}",
                            Details="".join(traceback.format_exception(exc)))
        log.info("activity %s instance=%s task=%d %.1f ms -> %s", work.name, work.instance_id, work.task_id,
                 (time.perf_counter() - t0) * 1000, outcome)
        if not self._stopping:
            self.submit(self.cmd_activity_done, work, event)


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


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
