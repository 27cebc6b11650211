"""The Durable engine: orchestration episodes, activity work, durable timers, external events, retries,
sub-orchestrations, continue-as-new, terminate/suspend/resume/purge.

One engine thread owns all state changes. Everything else (HTTP handlers, activity workers) sends it commands.
Each loop turn applies a batch of commands, fires due timers, runs every orchestration episode that has new
messages, and commits once: a turn is atomic across `kill -9`. Completed activity results are committed (as inbox
messages) before they are acknowledged; work items are deleted in the same commit. After a restart, inbox
messages are replayed, due timers fire and unfinished activity work is re-run (at-least-once).

The engine is put together from its concerns: `state` (records, inbox, instance cache, persistence), `commands`
(what the API asks for), `episodes` (the episode runner), `scheduler` (actions, timers, retries); this module
holds the engine thread, its transaction per turn and the activity workers.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from . import history as h
from .appindex import AppIndex
from .commands import Commands
from .episodes import Episodes
from .invoke import build_kwargs, call_from_thread, input_binding_values
from .replay import Replayer
from .scheduler import Scheduler
from .state import (  # re-exported: the engine's public names
    ACTIVE,
    COMPLETED,
    FAILED,
    PENDING,
    RUNNING,
    SUSPENDED,
    TERMINAL,
    TERMINATED,
    EngineError,
    Instance,
    Msg,
    Work,
)
from .store import Store

__all__ = ["ACTIVE", "COMPLETED", "FAILED", "PENDING", "RUNNING", "SUSPENDED", "TERMINAL", "TERMINATED", "Engine",
           "EngineError", "Instance", "Msg", "Work"]

log = logging.getLogger("devhost")


class Engine(Commands, Episodes, Scheduler):
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
        self._load_messages()
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
        self._load_messages()

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
