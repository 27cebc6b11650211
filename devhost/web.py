"""devhost's HTTP surface: /api/<route> HTTP triggers, Event Grid webhooks and topic, the Durable HTTP API,
/admin/host/status (master key, as the Functions host's admin API) and /admin/host/ping (anonymous, as the
host's)."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import azure.functions as func
from aiohttp import web

from .appindex import HttpRoute
from .durable_api import DurableApi
from .eventgrid import event_type_and_subject, invoke_eventgrid_function, parse_events
from .invoke import build_kwargs, call_on_loop, input_binding_values
from .urls import DURABLE, management_urls

if TYPE_CHECKING:
    from .server import DevHost

log = logging.getLogger("devhost")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(data).encode(), content_type="application/json",
                        headers=headers)


class WebApp:
    """Builds the aiohttp application for one DevHost."""

    def __init__(self, host: DevHost) -> None:
        self.host = host

    # ---- keys --------------------------------------------------------------------------------------------------
    def _presented_key(self, request: web.Request) -> str | None:
        return request.query.get("code") or request.headers.get("x-functions-key")

    def _key_ok(self, key: str | None, level: str) -> bool:
        """An HTTP trigger's auth level; `--auth off` opens them all, as `func start` does locally."""
        if level == "anonymous" or self.host.auth == "off":
            return True
        if not key:
            return False
        cfg = self.host.config
        if hmac.compare_digest(key, cfg.master_key):
            return True
        if level == "function":
            return any(hmac.compare_digest(key, k) for k in cfg.function_keys.values())
        return False

    def _system_ok(self, request: web.Request) -> bool:
        """Durable API: the `durabletask_extension` system key or the master key (`code=` or `x-functions-key`),
        or, on the in-process client's RPC path, that path's secret (the binding's `rpcBaseUrl` carries it)."""
        token = request.match_info.get("rpc_token")
        if token is not None:
            return hmac.compare_digest(token.encode(), self.host.rpc_token.encode())
        return self._one_of(self._presented_key(request), self.host.config.system_key)

    def guard_durable(self, handler: Handler) -> Handler:
        """`handler` behind the Durable API's key check (401 without it)."""
        async def guarded(request: web.Request) -> web.StreamResponse:
            if not self._system_ok(request):
                return web.Response(status=401)
            return await handler(request)
        return guarded

    def _eventgrid_ok(self, request: web.Request) -> bool:
        """Event Grid webhook and local topic: the `eventgrid_extension` system key or the master key (`code=`,
        `x-functions-key` or, for the topic, `aeg-sas-key`)."""
        key = request.headers.get("aeg-sas-key") or self._presented_key(request)
        return self._one_of(key, self.host.config.eventgrid_key)

    def _one_of(self, key: str | None, system_key: str) -> bool:
        if not key:
            return False
        master = self.host.config.master_key
        return hmac.compare_digest(key.encode(), system_key.encode()) or hmac.compare_digest(key.encode(),
                                                                                              master.encode())

    def build(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        r = app.router
        r.add_get("/admin/host/status", self.host_status)
        r.add_route("*", "/admin/host/ping", self.host_ping)
        r.add_route("*", "/admin/{tail:.*}", self.admin_other)
        r.add_get("/", self.root)
        r.add_post("/runtime/webhooks/eventgrid", self.eventgrid_webhook)
        r.add_post("/runtime/eventgrid/topic", self.eventgrid_topic)
        r.add_route("OPTIONS", "/runtime/webhooks/eventgrid", self.cloudevents_abuse_protection)
        DurableApi(self).routes(r)
        prefix = self.host.config.route_prefix
        r.add_route("*", f"/{prefix}/{{tail:.*}}" if prefix else "/{tail:.*}", self.http_trigger)
        return app

    # ---- host --------------------------------------------------------------------------------------------------
    async def host_status(self, request: web.Request) -> web.Response:
        """The host's state, functions and process id (a supervisor checks it started this one): master key."""
        if not self._key_ok(self._presented_key(request), "admin"):
            return web.Response(status=401)
        return _json({"id": "devhost", "state": "Running", "version": "devhost-1", "pid": os.getpid(),
                      "processUptime": int((time.time() - self.host.started_at) * 1000),
                      "functions": sorted(self.host.index.functions), "app": str(self.host.app_path),
                      "auth": self.host.auth, "unsupported": self.host.index.unsupported})

    async def host_ping(self, request: web.Request) -> web.Response:
        """Anonymous liveness, as the Functions host's ``/admin/host/ping``: 200 and nothing else."""
        return web.Response(status=200)

    async def admin_other(self, request: web.Request) -> web.Response:
        """Any other admin route: 401 without the master key, else 404 (devhost has no other admin API)."""
        if not self._key_ok(self._presented_key(request), "admin"):
            return web.Response(status=401)
        return web.Response(status=404)

    async def root(self, request: web.Request) -> web.Response:
        return web.Response(text="devhost: Azure Functions host stand-in is running.\n")

    # ---- HTTP triggers -------------------------------------------------------------------------------------
    def _match(self, path: str, method: str) -> tuple[HttpRoute | None, dict[str, str], bool]:
        path_matched = False
        for route in self.host.index.http_routes:
            m = route.regex.match(path)
            if not m:
                continue
            path_matched = True
            if route.methods and method not in route.methods:
                continue
            return route, {k: v for k, v in m.groupdict().items() if v is not None}, True
        return None, {}, path_matched

    async def http_trigger(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"].strip("/")
        route, params, path_matched = self._match(tail, request.method.upper())
        if route is None:
            return web.Response(status=405 if path_matched else 404)
        if not self._key_ok(self._presented_key(request), route.auth_level):
            return web.Response(status=401)
        fn = route.function
        body = await request.read()
        query = {k: v for k, v in request.query.items()}
        req = func.HttpRequest(method=request.method.upper(), url=str(request.url), headers=dict(request.headers),
                               params=query, route_params=params, body=body)
        try:
            args: dict[str, Any] = {fn.trigger["name"]: req,
                                    **input_binding_values(fn, lambda: self.host.durable_client_json(request))}
        except RuntimeError as exc:
            return web.Response(status=500, text=str(exc))
        t0 = time.perf_counter()
        try:
            result = await call_on_loop(fn.func, build_kwargs(fn.func, args, fn.name, self.host.app_dir))
        except Exception as exc:
            log.error("http %s %s %s -> 500 (%s: %s)\n%s", fn.name, request.method, tail, type(exc).__name__, exc,
                      traceback.format_exc())
            return web.Response(status=500)
        response = _to_aiohttp(result)
        log.info("http %s %s %s %.1f ms -> %d", fn.name, request.method, request.path,
                 (time.perf_counter() - t0) * 1000, response.status)
        return response

    # ---- Event Grid ------------------------------------------------------------------------------------------
    async def eventgrid_webhook(self, request: web.Request) -> web.Response:
        """`POST /runtime/webhooks/eventgrid?functionName=X`, as the Functions host's Event Grid extension."""
        if not self._eventgrid_ok(request):
            return web.Response(status=401)
        name = request.query.get("functionName", "")
        if name not in self.host.index.eventgrid:
            return web.Response(status=404, text=f"No Event Grid triggered function named '{name}'")
        try:
            events = parse_events(await request.read())
        except ValueError as exc:
            return web.Response(status=400, text=str(exc))
        kind = request.headers.get("aeg-event-type", "Notification")
        if kind == "SubscriptionValidation" or any(
                event_type_and_subject(e)[0] == "Microsoft.EventGrid.SubscriptionValidationEvent" for e in events):
            code = (events[0].get("data") or {}).get("validationCode")
            return _json({"validationResponse": code})
        if kind == "SubscriptionDeletion":
            return web.Response(status=202)
        loop = asyncio.get_running_loop()
        for ev in events:
            try:
                await loop.run_in_executor(None, invoke_eventgrid_function, self.host.index, name, ev,
                                           self.host.app_dir, loop, self.host.durable_client_json)
            except Exception as exc:
                return web.Response(status=500, text=f"{type(exc).__name__}: {exc}")
        return web.Response(status=202)

    async def cloudevents_abuse_protection(self, request: web.Request) -> web.Response:
        """CloudEvents webhook validation: `OPTIONS` with WebHook-Request-Origin is answered with the allow headers."""
        origin = request.headers.get("WebHook-Request-Origin")
        if not origin:
            return web.Response(status=400, text="OPTIONS without a WebHook-Request-Origin header")
        return web.Response(status=200, headers={"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*",
                                                 "Allow": "POST, OPTIONS"})

    async def eventgrid_topic(self, request: web.Request) -> web.Response:
        """The local topic: persist one delivery per matching subscription, answer 200, deliver asynchronously."""
        if not self._eventgrid_ok(request):
            return web.Response(status=401)
        try:
            events = parse_events(await request.read())
        except ValueError as exc:
            return web.Response(status=400, text=str(exc))
        rows = []
        for ev in events:
            matched = [s for s in self.host.subscriptions if s.matches(ev)]
            if not matched:
                log.info("eventgrid topic: event %s (%s) matches no subscription", ev.get("id"),
                         event_type_and_subject(ev)[0])
            rows += [(s.function, s.name, json.dumps(ev)) for s in matched]

        def insert() -> int:
            now = time.time()
            self.host.engine.db.executemany(
                "INSERT INTO eg_deliveries(function, subscription, event, attempts, next_at) VALUES (?,?,?,0,?)",
                [(f, s, e, now) for f, s, e in rows])
            return len(rows)

        count = await asyncio.wrap_future(self.host.engine.submit(insert))
        self.host.deliverer.wake()
        return _json({"accepted": len(events), "deliveries": count})


def _to_aiohttp(result: Any) -> web.Response:
    """The function's return value as the host would send it: an HttpResponse as is; str/bytes/JSON-able as 200."""
    if isinstance(result, func.HttpResponse):
        headers = {k: v for k, v in result.headers.items()}
        body = result.get_body()
        ctype = None
        if not any(k.lower() == "content-type" for k in headers):
            ctype = result.mimetype or "text/plain"
            if result.charset and ctype.startswith("text/"):
                ctype += f"; charset={result.charset}"
            headers["Content-Type"] = ctype
        return web.Response(status=result.status_code, body=body, headers=headers)
    if result is None:
        return web.Response(status=204)
    if isinstance(result, bytes):
        return web.Response(body=result, content_type="application/octet-stream")
    if isinstance(result, str):
        return web.Response(text=result, content_type="text/plain")
    return web.Response(body=json.dumps(result).encode(), content_type="application/json")


__all__ = ["DURABLE", "WebApp", "management_urls"]
