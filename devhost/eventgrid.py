"""Event Grid locally: subscriptions (as infra/eventgrid-subscriptions.json declares them), filtering, a
persistent topic outbox and delivery with retries, exponential back-off and dead-lettering."""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from .appindex import AppIndex
from .invoke import build_kwargs, call_from_thread, input_binding_values

log = logging.getLogger("devhost")

MAX_ATTEMPTS = 5
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 60.0


@dataclass
class Subscription:
    """One Event Grid subscription: filters plus the function it delivers to."""

    name: str
    function: str
    included_event_types: list[str] | None = None
    subject_begins_with: str = ""
    subject_ends_with: str = ""
    case_sensitive: bool = False
    advanced_filters: list[dict[str, Any]] = field(default_factory=list)

    def matches(self, event: dict[str, Any]) -> bool:
        """Event Grid's filter semantics: event type list, subject prefix/suffix, advanced filters (all must hold)."""
        event_type, subject = event_type_and_subject(event)
        if self.included_event_types and not any(
                t.lower() == (event_type or "").lower() for t in self.included_event_types):
            return False
        subj = subject or ""
        begins, ends = self.subject_begins_with, self.subject_ends_with
        if not self.case_sensitive:
            subj, begins, ends = subj.lower(), begins.lower(), ends.lower()
        if begins and not subj.startswith(begins):
            return False
        if ends and not subj.endswith(ends):
            return False
        return all(_advanced_filter_holds(f, event) for f in self.advanced_filters)


def event_type_and_subject(event: dict[str, Any]) -> tuple[str | None, str | None]:
    if "specversion" in event:
        return event.get("type"), event.get("subject")
    return event.get("eventType"), event.get("subject")


def _lookup(event: dict[str, Any], key: str) -> Any:
    value: Any = event
    for part in key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _advanced_filter_holds(flt: dict[str, Any], event: dict[str, Any]) -> bool:
    op = flt.get("operatorType", "")
    key = flt.get("key", "")
    value = _lookup(event, key)
    values = flt.get("values") if "values" in flt else [flt.get("value")]
    if op in ("StringIn", "StringNotIn", "StringBeginsWith", "StringEndsWith", "StringContains"):
        text = None if value is None else str(value).lower()
        candidates = [str(v).lower() for v in values or []]
        if op == "StringIn":
            return text is not None and text in candidates
        if op == "StringNotIn":
            return text is None or text not in candidates
        if text is None:
            return False
        if op == "StringBeginsWith":
            return any(text.startswith(c) for c in candidates)
        if op == "StringEndsWith":
            return any(text.endswith(c) for c in candidates)
        return any(c in text for c in candidates)
    if op in ("NumberIn", "NumberNotIn"):
        ok = isinstance(value, int | float) and value in values
        return ok if op == "NumberIn" else not ok
    if op in ("NumberGreaterThan", "NumberLessThan", "NumberGreaterThanOrEquals", "NumberLessThanOrEquals"):
        if not isinstance(value, int | float):
            return False
        ref = float(flt.get("value"))
        return {"NumberGreaterThan": value > ref, "NumberLessThan": value < ref,
                "NumberGreaterThanOrEquals": value >= ref, "NumberLessThanOrEquals": value <= ref}[op]
    if op == "BoolEquals":
        return value is flt.get("value")
    if op == "IsNotNull":
        return value is not None
    if op == "IsNullOrUndefined":
        return value is None
    raise ValueError(f"advanced filter operatorType '{op}' is not supported by devhost")


def load_subscriptions(path: Path | None, index: AppIndex) -> list[Subscription]:
    """Read the subscriptions file; a subscription whose function the app lacks is skipped with a warning."""
    if path is None or not path.exists():
        if path is not None:
            log.warning("%s: no Event Grid subscriptions file; the topic endpoint delivers nothing", path)
        return []
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise SystemExit(f"{path}: not valid JSON ({exc})") from exc
    items = data.get("subscriptions") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise SystemExit(f"{path}: expected {{\"subscriptions\": [...]}} or a JSON array of subscriptions")
    subs = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not item.get("function"):
            raise SystemExit(f"{path}: subscriptions[{i}]: expected an object with a 'function' field")
        name = item.get("name") or f"subscription-{i}"
        if item["function"] not in index.eventgrid:
            log.warning("%s: subscription '%s' targets function '%s', which the app has no Event Grid trigger "
                        "for; skipped", path, name, item["function"])
            continue
        subs.append(Subscription(
            name=name, function=item["function"], included_event_types=item.get("includedEventTypes"),
            subject_begins_with=item.get("subjectBeginsWith") or "",
            subject_ends_with=item.get("subjectEndsWith") or "",
            case_sensitive=bool(item.get("isSubjectCaseSensitive")),
            advanced_filters=item.get("advancedFilters") or []))
    return subs


def load_delivery_policy(path: Path | None) -> dict[str, Any]:
    """The file's `delivery` block (maxDeliveryAttempts, eventTimeToLiveInMinutes), {} when absent."""
    if path is None or not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return {}
    delivery = data.get("delivery") if isinstance(data, dict) else None
    return delivery if isinstance(delivery, dict) else {}


def parse_events(body: bytes) -> list[dict[str, Any]]:
    """An Event Grid schema array, one CloudEvent, or a CloudEvents batch → list of event dicts."""
    try:
        data = json.loads(body or b"null")
    except ValueError as exc:
        raise ValueError(f"request body is not JSON: {exc}") from exc
    events = data if isinstance(data, list) else [data]
    for i, ev in enumerate(events):
        if not isinstance(ev, dict):
            raise ValueError(f"event [{i}] is not a JSON object")
        if "specversion" in ev:
            missing = [k for k in ("id", "source", "type") if not ev.get(k)]
        else:
            missing = [k for k in ("id", "eventType", "subject", "eventTime", "data", "dataVersion")
                       if k not in ev or ev[k] is None]
            missing = [k for k in missing if k not in ("dataVersion",)]
        if missing:
            raise ValueError(f"event [{i}] (id={ev.get('id')!r}) lacks required field(s): {', '.join(missing)}")
    return events


def invoke_eventgrid_function(index: AppIndex, function_name: str, event: dict[str, Any], app_dir: Path,
                              loop: Any, client_json: Callable[[], str] | None = None) -> None:
    """Invoke an Event Grid triggered function with one event (raises what the function raises)."""
    fn = index.eventgrid[function_name]
    param = fn.trigger["name"]
    value = EventGridEventInConverter.decode(meta.Datum(type="json", value=json.dumps(event)), trigger_metadata=None)
    args = {param: value, **input_binding_values(fn, client_json)}
    t0 = time.perf_counter()
    outcome = "Succeeded"
    try:
        call_from_thread(fn.func, build_kwargs(fn.func, args, function_name, app_dir), loop)
    except Exception as exc:
        outcome = f"Failed ({type(exc).__name__}: {exc})"
        raise
    finally:
        log.info("eventgrid %s event=%s %.1f ms -> %s", function_name, event.get("id"),
                 (time.perf_counter() - t0) * 1000, outcome)


class Deliverer:
    """Delivers accepted topic events to subscribed functions; rows live in SQLite until delivered or dead."""

    def __init__(self, engine: Any, index: AppIndex, app_dir: Path, state_dir: Path,
                 max_attempts: int = MAX_ATTEMPTS, first_retry_seconds: float = FIRST_RETRY_SECONDS) -> None:
        self.engine = engine
        self.max_attempts = max_attempts
        self.first_retry_seconds = first_retry_seconds
        self.index = index
        self.app_dir = app_dir
        self.dead_letter = state_dir / "eventgrid-deadletter.jsonl"
        self._wake = threading.Event()
        self._stop = False
        self._inflight: set[int] = set()
        # rid -> attempts recorded by this process; a SELECT that began before that commit shows older attempts
        self._recorded: dict[int, int] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._main, name="eventgrid", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop = True
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def _main(self) -> None:
        while not self._stop:
            now = time.time()
            conn = self.engine.store.reader()
            rows = conn.execute("SELECT id, function, subscription, event, attempts, next_at FROM eg_deliveries "
                                "ORDER BY next_at LIMIT 200").fetchall()
            wait = 1.0
            with self._lock:
                seen = {row[0] for row in rows}
                self._recorded = {rid: n for rid, n in self._recorded.items() if rid in seen}
            for rid, function, sub, event, attempts, next_at in rows:
                if next_at > now:
                    wait = min(wait, next_at - now)
                    continue
                with self._lock:
                    if rid in self._inflight or self._recorded.get(rid, -1) > attempts:
                        continue  # being delivered, or this row is a snapshot from before its last attempt was saved
                    self._inflight.add(rid)
                self.engine.pool.submit(self._deliver, rid, function, sub, json.loads(event), attempts)
            self._wake.wait(timeout=max(0.01, wait))
            self._wake.clear()

    def _deliver(self, rid: int, function: str, sub: str, event: dict[str, Any], attempts: int) -> None:
        error = None
        try:
            invoke_eventgrid_function(self.index, function, event, self.app_dir, self.engine.loop,
                                      self.engine.client_json)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        fut = self.engine.submit(self._record, rid, function, sub, event, attempts + 1, error)
        try:
            fut.result(timeout=60)
            with self._lock:
                self._recorded[rid] = attempts + 1
        finally:
            with self._lock:
                self._inflight.discard(rid)
            self._wake.set()

    def _record(self, rid: int, function: str, sub: str, event: dict[str, Any], attempts: int,
                error: str | None) -> None:
        db = self.engine.db
        if error is None:
            db.execute("DELETE FROM eg_deliveries WHERE id=?", (rid,))
            return
        if attempts >= self.max_attempts:
            db.execute("DELETE FROM eg_deliveries WHERE id=?", (rid,))
            record = {"subscription": sub, "function": function, "attempts": attempts, "deadLetteredAt": time.time(),
                      "lastError": error.splitlines()[0], "event": event}
            with self.dead_letter.open("a") as fh:
                fh.write(json.dumps(record) + "\n")
            log.error("eventgrid subscription %s: event %s dead-lettered after %d attempts (%s) -> %s", sub,
                      event.get("id"), attempts, error.splitlines()[0], self.dead_letter)
            return
        delay = min(MAX_RETRY_SECONDS, self.first_retry_seconds * 2 ** (attempts - 1))
        db.execute("UPDATE eg_deliveries SET attempts=?, next_at=?, last_error=? WHERE id=?",
                   (attempts, time.time() + delay, error, rid))
        log.warning("eventgrid subscription %s: delivery of %s failed (attempt %d/%d), retry in %.1f s", sub,
                    event.get("id"), attempts, self.max_attempts, delay)
