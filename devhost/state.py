"""The Durable engine's state and its persistence: instance, message and work records, the inbox (ready, held
and timer messages) and the instance cache over the SQLite tables of `store.py`. Runs on the engine thread."""

from __future__ import annotations

import heapq
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .appindex import AppIndex
from .replay import Replayer
from .store import Store

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


def new_engine_state() -> dict[str, Any]:
    return {"next_seq": 0, "n_actions": 0, "retries": {}}


def as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)



class EngineState:
    """What the engine's parts share (set by `Engine.__init__`), and the inbox and instance cache over it."""

    store: Store
    db: Any
    index: AppIndex
    app_dir: Path
    replayer: Replayer
    pool: ThreadPoolExecutor
    _ready: dict[str, list[Msg]]
    _held: dict[str, list[Msg]]  # messages for suspended instances
    _timers: list[tuple[float, int, str]]
    _timer_msgs: dict[int, Msg]
    _live: dict[str, Instance]
    _dirty: set[str]
    _after_commit: list[Callable[[], None]]

    def _load_messages(self) -> None:
        """Inbox messages from the database: due ones ready, later ones as timers."""
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
