"""The Durable Functions HTTP API under `/runtime/webhooks/durabletask/`, as the extension's HTTP handler answers it
(status codes, `Location` and `Retry-After`, start-and-wait, list paging, purge validation, restart payload,
the documented history shape); entity routes answer a JSON 501 (devhost has no Durable Entities)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import history as h
from .engine import ACTIVE, FAILED, TERMINAL, EngineError
from .urls import DURABLE, management_urls

if TYPE_CHECKING:
    from .web import WebApp

log = logging.getLogger("devhost")
STATUSES = ("Running", "Pending", "Failed", "Canceled", "Terminated", "Completed", "ContinuedAsNew", "Suspended")
CHECK_STATUS_RETRY_AFTER = "10"  # seconds: the check-status response (start, restart)
STATUS_RETRY_AFTER = "5"  # seconds: a status query of a running instance


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(data).encode(), content_type="application/json",
                        headers=headers)


def _error(status: int, message: str) -> web.Response:
    """An error as the host's `CreateErrorResponse` shapes it (`Message`, and `ExceptionMessage` the SDK reads)."""
    return _json({"Message": message, "ExceptionMessage": message}, status)


def host_time(ts: float) -> str:
    """createdTime / lastUpdatedTime as the extension writes them: `DateTime.ToString("s") + "Z"`."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _flag(request: web.Request, name: str, default: bool) -> bool:
    """A boolean query parameter; anything but true/false means the default (the host's `bool.TryParse`)."""
    value = request.query.get(name, "").lower()
    return {"true": True, "false": False}.get(value, default)


def _time(request: web.Request, name: str) -> float | None:
    """A timestamp query parameter; unparseable means absent (the host's `DateTime.TryParse`)."""
    value = request.query.get(name)
    if not value:
        return None
    try:
        return h.parse_time(value)
    except ValueError:
        return None


def _seconds(request: web.Request, name: str) -> float | None:
    try:
        value = float(request.query.get(name, ""))
    except ValueError:
        return None
    return value if 0 <= value <= 3600 else None


def _statuses(request: web.Request) -> list[str] | None:
    """runtimeStatus=A,B: known names only (case-insensitive, as `Enum.TryParse`), others ignored."""
    by_lower = {s.lower(): s for s in STATUSES}
    chosen = [by_lower[v.strip().lower()] for v in ",".join(request.query.getall("runtimeStatus", [])).split(",")
              if v.strip().lower() in by_lower]
    return chosen or None


def public_history(events: list[dict[str, Any]], show_output: bool) -> list[dict[str, Any]]:
    """The documented history shape: EventType names; OrchestratorStarted/Completed left out; a scheduled task or
    sub-orchestration folded into its completion (`FunctionName`, `ScheduledTime`); results as JSON values, only
    with showHistoryOutput; engine fields (EventId, IsPlayed, TaskScheduledId) left out."""
    out: list[dict[str, Any]] = []
    scheduled: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    folded: set[int] = set()  # id() of scheduled items folded into their completion
    for ev in events:
        et = ev["EventType"]
        if et in (h.ORCHESTRATOR_STARTED, h.ORCHESTRATOR_COMPLETED):
            continue
        item: dict[str, Any] = {"EventType": h.EVENT_TYPE_NAMES.get(et, str(et)), "Timestamp": ev.get("Timestamp")}
        if et == h.EXECUTION_STARTED:
            item["FunctionName"] = ev.get("Name")
            item["Input"] = _value(ev.get("Input"))
        elif et in (h.TASK_SCHEDULED, h.SUB_ORCH_CREATED):
            item["FunctionName"] = ev.get("Name")
            if et == h.SUB_ORCH_CREATED:
                item["InstanceId"] = ev.get("InstanceId")
            scheduled[ev["EventId"]] = (item, ev)
        elif et in (h.TASK_COMPLETED, h.TASK_FAILED, h.SUB_ORCH_COMPLETED, h.SUB_ORCH_FAILED):
            pair = scheduled.pop(ev.get("TaskScheduledId"), None)
            if pair is not None:
                folded.add(id(pair[0]))
                item["FunctionName"] = pair[1].get("Name")
                item["ScheduledTime"] = pair[1].get("Timestamp")
            if et in (h.TASK_COMPLETED, h.SUB_ORCH_COMPLETED):
                if show_output:
                    item["Result"] = _value(ev.get("Result"))
            else:
                item["Reason"], item["Details"] = ev.get("Reason"), ev.get("Details")
        elif et == h.EXECUTION_COMPLETED:
            item["OrchestrationStatus"] = ev.get("OrchestrationStatus")
            if show_output:
                item["Result"] = _value(ev.get("Result"))
        elif et == h.EVENT_RAISED:
            item["Name"] = ev.get("Name")
            item["Input"] = _value(ev.get("Input"))
        elif et in (h.TIMER_CREATED, h.TIMER_FIRED):
            item["FireAt"] = ev.get("FireAt")
        elif et == h.EXECUTION_TERMINATED:
            item["Input"] = ev.get("Input")
        elif et in (h.EXECUTION_SUSPENDED, h.EXECUTION_RESUMED):
            item["Reason"] = ev.get("Reason")
        out.append(item)
    return [item for item in out if id(item) not in folded]


def _value(text: Any) -> Any:
    """A JSON text as its value (results and inputs are stored encoded); other text as is."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: str) -> int:
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ValueError("x-ms-continuation-token is not one this API returned") from exc
    if not isinstance(value, int) or value < 0:
        raise ValueError("x-ms-continuation-token is not one this API returned")
    return value


class DurableApi:
    """The handlers; each checks the system key first (`WebApp._system_ok`)."""

    def __init__(self, web_app: WebApp) -> None:
        self.web = web_app
        self.host = web_app.host

    def routes(self, r: web.UrlDispatcher) -> None:
        guarded = self.web.guard_durable
        for base in (DURABLE, DURABLE + "/rpc/{rpc_token}"):  # the management API and the client's RPC path
            r.add_post(base + "/orchestrators/{name}", guarded(self.start))
            r.add_post(base + "/orchestrators/{name}/{instance_id}", guarded(self.start))
            for path in ("/instances", "/instances/"):
                r.add_get(base + path, guarded(self.list))
                r.add_delete(base + path, guarded(self.purge_by))
            r.add_get(base + "/instances/{instance_id}", guarded(self.status))
            r.add_delete(base + "/instances/{instance_id}", guarded(self.purge))
            r.add_post(base + "/instances/{instance_id}/raiseEvent/{event}", guarded(self.raise_event))
            r.add_post(base + "/instances/{instance_id}/{op:terminate|suspend|resume}", guarded(self.control))
            r.add_post(base + "/instances/{instance_id}/restart", guarded(self.restart))
            r.add_post(base + "/instances/{instance_id}/rewind", guarded(self.rewind))
            r.add_route("*", base + "/entities/{tail:.*}", guarded(self.entities))

    async def _engine(self, fn: Any, *args: Any) -> Any:
        return await asyncio.wrap_future(self.host.engine.submit(fn, *args))

    def _payload(self, request: web.Request, instance_id: str) -> dict[str, str]:
        return management_urls(str(request.url.origin()), self.host.config.hub_name, self.host.config.system_key,
                               instance_id)

    def _check_status(self, request: web.Request, instance_id: str) -> web.Response:
        """202 with the management payload, `Location` (its status URL) and `Retry-After`."""
        payload = self._payload(request, instance_id)
        for drop in ("rewindPostUri",):  # the host's check-status response does not carry it
            payload.pop(drop, None)
        return _json(payload, 202, {"Location": payload["statusQueryGetUri"],
                                    "Retry-After": CHECK_STATUS_RETRY_AFTER})

    def status_json(self, row: dict[str, Any], show_input: bool = True) -> dict[str, Any]:
        return {
            "name": row["name"], "instanceId": row["id"], "runtimeStatus": row["status"],
            "input": json.loads(row["input"]) if show_input and row["input"] else None,
            "customStatus": json.loads(row["custom_status"]) if row["custom_status"] else None,
            "output": json.loads(row["output"]) if row["output"] else None,
            "createdTime": host_time(row["created"]), "lastUpdatedTime": host_time(row["updated"]),
        }

    # ---- start, status, list ---------------------------------------------------------------------------------
    async def start(self, request: web.Request) -> web.Response:
        text = (await request.text()).strip()
        try:
            input_value = json.loads(text) if text else None
        except ValueError:
            return _error(400, "Invalid JSON content")
        try:
            instance_id = await self._engine(self.host.engine.cmd_start, request.match_info["name"],
                                             request.match_info.get("instance_id") or None, input_value)
        except EngineError as exc:
            return _error(exc.status, str(exc))
        return await self._wait_or_check_status(request, instance_id)

    async def _wait_or_check_status(self, request: web.Request, instance_id: str) -> web.Response:
        """With `timeout` and `pollingInterval` (seconds): wait for the end as WaitForCompletionOrCreateCheckStatus
        does (Completed → 200 with the output; Failed/Terminated → the status; still running → 202 payload)."""
        timeout, interval = _seconds(request, "timeout"), _seconds(request, "pollingInterval")
        if timeout is None or interval is None:
            return self._check_status(request, instance_id)
        if interval > timeout:
            return _error(400, f"Total timeout {timeout} should be bigger than retry timeout {interval}")
        deadline = time.monotonic() + timeout
        while True:
            row = self.host.store.read_instance(instance_id)
            if row and row["status"] == "Completed":
                return _json(json.loads(row["output"]) if row["output"] else None, 200)
            if row and row["status"] in TERMINAL:
                return _json(self.status_json(row), 200)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._check_status(request, instance_id)
            await asyncio.sleep(min(max(interval, 0.01), remaining))

    async def status(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["instance_id"]
        row = self.host.store.read_instance(instance_id)
        if row is None:
            return _json(f"No instance with ID '{instance_id}' found.", 404)
        out = self.status_json(row, _flag(request, "showInput", True))
        if _flag(request, "showHistory", False):
            out["historyEvents"] = public_history(self.host.store.read_history(instance_id),
                                                  _flag(request, "showHistoryOutput", False))
        if row["status"] in ACTIVE:
            return _json(out, 202, {"Location": str(request.url), "Retry-After": STATUS_RETRY_AFTER})
        code = 500 if row["status"] == FAILED and _flag(request, "returnInternalServerErrorOnFailure", False) else 200
        return _json(out, code)

    async def list(self, request: web.Request) -> web.Response:
        token = request.headers.get("x-ms-continuation-token")
        try:
            offset = _offset(token) if token else 0
        except ValueError as exc:
            return _error(400, str(exc))
        try:
            top = int(request.query.get("top", ""))
        except ValueError:
            top = 0
        rows = self.host.store.query_instances(_statuses(request), _time(request, "createdTimeFrom"),
                                               _time(request, "createdTimeTo"), request.query.get("instanceIdPrefix"))
        page = rows[offset:offset + top] if top > 0 else rows[offset:]
        headers = {}
        if top > 0 and offset + top < len(rows):
            headers["x-ms-continuation-token"] = _token(offset + top)
        show_input = _flag(request, "showInput", True)
        return _json([self.status_json(r, show_input) for r in page], 200, headers)

    # ---- events and control ----------------------------------------------------------------------------------
    async def raise_event(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["instance_id"]
        row = self.host.store.read_instance(instance_id)
        if row is None:
            return _json(f"No instance with ID '{instance_id}' found.", 404)
        if row["status"] in TERMINAL:
            return _json(f"Instance with ID {instance_id} is gone: {row['status'].lower()}", 410)
        if request.content_type.lower() != "application/json":
            return _error(400, "Only application/json request content is supported")
        text = (await request.text()).strip()
        try:
            input_text = json.dumps(json.loads(text)) if text else None
        except ValueError:
            return _error(400, "Invalid JSON content")
        try:
            await self._engine(self.host.engine.cmd_raise_event, instance_id, request.match_info["event"],
                               input_text)
        except EngineError as exc:
            return _json(str(exc), exc.status)
        return web.Response(status=202)

    async def control(self, request: web.Request) -> web.Response:
        try:
            await self._engine(self.host.engine.cmd_control, request.match_info["instance_id"],
                               request.match_info["op"], request.query.get("reason", ""))
        except EngineError as exc:
            return _json(str(exc), exc.status)
        return web.Response(status=202)

    async def restart(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["instance_id"]
        row = self.host.store.read_instance(instance_id)
        if row is None:
            return _error(400, "InstanceId does not match a valid orchestration instance.")
        new_id = None if _flag(request, "restartWithNewInstanceId", True) else instance_id
        try:
            started = await self._engine(self.host.engine.cmd_start, row["name"], new_id,
                                         json.loads(row["input"]) if row["input"] else None)
        except EngineError as exc:
            if exc.status == 409:
                return _error(409, "A non-terminal instance with this instance ID already exists.")
            return _error(exc.status, str(exc))
        return await self._wait_or_check_status(request, started)

    async def rewind(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["instance_id"]
        row = self.host.store.read_instance(instance_id)
        if row is None:
            return _json(f'No orchestration with instance ID "{instance_id}" found.', 404)
        if row["status"] != FAILED:
            return _json(f"This orchestration has status {row['status']}, but only orchestrations in the "
                         '"Failed" state can be rewound.', 412)
        return _error(501, "Rewind is not supported by devhost (it is deprecated in Durable Functions too).")

    # ---- purge ---------------------------------------------------------------------------------------------
    async def purge(self, request: web.Request) -> web.Response:
        try:
            n = await self._engine(self.host.engine.cmd_purge, request.match_info["instance_id"])
        except EngineError as exc:
            return _json(str(exc), exc.status)
        return _json({"instancesDeleted": n})

    async def purge_by(self, request: web.Request) -> web.Response:
        created_from = _time(request, "createdTimeFrom")
        if created_from is None:
            return _json("Please provide value for 'createdTimeFrom' parameter.", 400)
        created_to = _time(request, "createdTimeTo") or time.time()
        n = await self._engine(self.host.engine.cmd_purge_by, _statuses(request), created_from, created_to)
        return _json({"instancesDeleted": n}) if n else web.Response(status=404)

    # ---- entities -----------------------------------------------------------------------------------------
    async def entities(self, request: web.Request) -> web.Response:
        log.warning("durable api: %s %s answered 501: devhost does not implement Durable Entities", request.method,
                    request.path.split("/entities/", 1)[-1][:100])
        return _error(501, "devhost does not implement Durable Entities (entity routes, signal_entity, "
                           "call_entity, read_entity_state); see docs/devhost.md")
