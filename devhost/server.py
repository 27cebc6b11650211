"""DevHost: load settings and the app, start the Durable engine, Event Grid deliverer and HTTP server.

Programmatic use (tests, the factory CLI):

    host = DevHost(app_dir=".", app_module="function_app", state_dir=".factory/devhost", port=0)
    host.start()          # returns once the HTTP server answers; host.base_url has the real port
    ...
    host.stop()

`launch()` runs `python -m devhost` as a subprocess instead (what crash tests need) and waits for
`GET /admin/host/status` to answer 200.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from azure.durable_functions.models.utils import http_utils as durable_http_utils

from .appindex import AppIndex, index_app, load_app
from .config import HostConfig, apply_values, load_config
from .engine import Engine
from .eventgrid import Deliverer, Subscription, load_delivery_policy, load_subscriptions
from .store import Store
from .web import DURABLE, WebApp, management_urls

log = logging.getLogger("devhost")
_INDEXES: dict[int, AppIndex] = {}  # app.get_functions() may run once per app object


def _reset_durable_client_session() -> None:
    """The Durable SDK keeps one aiohttp session per process, bound to the event loop that created it (the worker
    has one loop). An in-process host gets a new loop per start, so the SDK must make a new session on it."""
    durable_http_utils._client_session = None
    durable_http_utils._session_lock = asyncio.Lock()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DevHost:
    """One running Functions host stand-in for one app directory."""

    def __init__(self, app_dir: str | Path = ".", app_module: str = "function_app",
                 state_dir: str | Path = ".factory/devhost", port: int = 7071, host: str = "127.0.0.1",
                 subscriptions: str | Path | None = "infra/eventgrid-subscriptions.json", workers: int | None = None,
                 full_replay: bool = False, synchronous: str = "NORMAL", eventgrid_max_attempts: int | None = None,
                 eventgrid_first_retry: float = 0.5, auth: str = "keys") -> None:
        if auth not in ("keys", "off"):
            raise ValueError(f"auth must be 'keys' or 'off', not {auth!r}")
        self.auth = auth  # HTTP triggers' auth levels enforced ("keys") or not ("off", as func start)
        self.app_dir = Path(app_dir).resolve()
        self.app_module = app_module
        self.app_path: Path | None = None
        self.state_dir = Path(state_dir)
        if not self.state_dir.is_absolute():
            self.state_dir = (Path.cwd() / self.state_dir).resolve()
        self.port = port or free_port()
        self.bind = host
        self.subscriptions_path = None
        if subscriptions:
            sp = Path(subscriptions)
            self.subscriptions_path = sp if sp.is_absolute() else (self.app_dir / sp)
        self.workers = workers
        self.full_replay = full_replay
        self.synchronous = synchronous
        self.eventgrid_retry = (eventgrid_max_attempts, eventgrid_first_retry)
        self.started_at = time.time()
        self.config: HostConfig
        self.index: AppIndex
        self.engine: Engine
        self.store: Store
        self.deliverer: Deliverer
        self.subscriptions: list[Subscription] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._env_restore: dict[str, str | None] = {}
        # the secret in the in-process Durable client's rpcBaseUrl path: new per start, never written anywhere
        self.rpc_token = secrets.token_urlsafe(32)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def load(self) -> None:
        """Settings → environment, import and index the app, open the state database."""
        self.config = load_config(self.app_dir, self.state_dir)
        self._env_restore = {key: None for key in apply_values(self.config.values)}
        self._env_restore.setdefault("WEBSITE_HOSTNAME", os.environ.get("WEBSITE_HOSTNAME"))
        os.environ["WEBSITE_HOSTNAME"] = f"127.0.0.1:{self.port}"
        app, self.app_path, attribute = load_app(self.app_dir, self.app_module)
        log.info("devhost: loaded app '%s' from %s", attribute, self.app_path)
        if id(app) not in _INDEXES:
            _INDEXES[id(app)] = index_app(app)
        self.index = _INDEXES[id(app)]
        self.store = Store(self.state_dir, self.synchronous)
        workers = self.workers or self.config.max_activities or 4
        self.engine = Engine(self.store, self.index, self.app_dir, workers=workers, full_replay=self.full_replay)
        self.engine.client_json = self.durable_client_json
        self.subscriptions = load_subscriptions(self.subscriptions_path, self.index)
        attempts, first_retry = self.eventgrid_retry
        if attempts is None:  # the subscriptions file's delivery policy, as Event Grid's retryPolicy
            attempts = int(load_delivery_policy(self.subscriptions_path).get("maxDeliveryAttempts") or 5)
        self.deliverer = Deliverer(self.engine, self.index, self.app_dir, self.state_dir, attempts, first_retry)
        log.info("devhost: app %s from %s: %d function(s): %s; hub %s; state %s; %d worker(s)", attribute,
                 self.app_path, len(self.index.functions), ", ".join(sorted(self.index.functions)),
                 self.config.hub_name, self.state_dir, workers)

    # ---- durable client binding --------------------------------------------------------------------------------
    def durable_client_json(self, request: Any = None) -> str:
        """The durableClient binding value the DFApp wrapper turns into a DurableOrchestrationClient."""
        base = self.base_url
        key = self.config.system_key
        hub = self.config.hub_name
        urls = management_urls(base, hub, key, "INSTANCEID")
        return json.dumps({
            "taskHubName": hub,
            "creationUrls": {
                "createNewInstancePostUri":
                    f"{base}{DURABLE}/orchestrators/{{functionName}}[/{{instanceId}}]?code={key}",
                "createAndWaitOnNewInstancePostUri":
                    f"{base}{DURABLE}/orchestrators/{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}"
                    f"&pollingInterval={{intervalInSeconds}}&code={key}",
            },
            "managementUrls": urls,
            "baseUrl": f"{base}{DURABLE}",
            "requiredQueryStringParameters": f"code={key}",
            "rpcBaseUrl": f"{base}{DURABLE}/rpc/{self.rpc_token}/",
            "httpBaseUrl": f"{base}{DURABLE}/rpc/{self.rpc_token}/",
            "maxGrpcMessageSizeInBytes": 0,
            "grpcHttpClientTimeout": "00:01:40",
        })

    def management_payload(self, instance_id: str, origin: str | None = None) -> dict[str, str]:
        return management_urls(origin or self.base_url, self.config.hub_name, self.config.system_key, instance_id)

    # ---- run ---------------------------------------------------------------------------------------------------
    def start(self, timeout: float = 30) -> DevHost:
        """Load everything and serve HTTP from a background thread; returns when the server is listening."""
        self.load()
        self._thread = threading.Thread(target=self._serve, name="devhost-http", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"devhost did not start listening on {self.bind}:{self.port} within {timeout} s")
        if self._error:
            raise RuntimeError(f"devhost failed to start: {self._error}") from self._error
        return self

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._cleanup())
        loop.close()

    async def _startup(self) -> None:
        _reset_durable_client_session()
        self.engine.loop = asyncio.get_running_loop()
        self.engine.start()
        self.deliverer.start()
        self._runner = web.AppRunner(WebApp(self).build(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.bind, self.port, reuse_address=True)
        await site.start()
        log.info("devhost listening on http://%s:%d", self.bind, self.port)

    async def _cleanup(self) -> None:
        if self._runner:
            await self._runner.cleanup()
        session = getattr(durable_http_utils, "_client_session", None)
        if session is not None and not session.closed:
            await session.close()
        _reset_durable_client_session()

    def stop(self) -> None:
        """Stop serving, stop the engine (pending work stays in the database for the next start)."""
        if self._loop and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(timeout=15)
        self.deliverer.stop()
        self.engine.stop()
        self.store.close()
        for key, value in self._env_restore.items():  # an in-process host leaves the environment as it found it
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def __enter__(self) -> DevHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class LaunchedHost:
    """A `python -m devhost` subprocess."""

    process: subprocess.Popen
    port: int
    log_path: Path | None
    app_dir: Path = Path(".")
    state_dir: Path = Path(".factory/devhost")

    @property
    def keys(self) -> HostConfig:
        """The host's keys (master, `durabletask_extension`, `eventgrid_extension`), as the process loaded them."""
        return load_config(self.app_dir, self.state_dir)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.process.kill()
        self.process.wait()


def wait_until_up(base_url: str, timeout: float = 60, process: subprocess.Popen | None = None,
                  master_key: str | Callable[[], str] | None = None) -> dict[str, Any]:
    """Poll `GET /admin/host/status` (with the master key, as the host's admin API takes) until it answers 200;
    returns its JSON. With ``process``, only that process's answer counts (its ``pid``): a stale host on the
    port is not taken for the one just started. ``master_key`` may be a callable (the key file appears once the
    host has started)."""
    deadline = time.time() + timeout
    last: Exception | str | None = None
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"devhost exited with code {process.returncode} before answering")
        try:
            key = master_key() if callable(master_key) else master_key
            headers = {"x-functions-key": key} if key else {}
            req = urllib.request.Request(f"{base_url}/admin/host/status", headers=headers)
            with urllib.request.urlopen(req, timeout=2) as resp:
                status = json.loads(resp.read())
                if process is None or status.get("pid") == process.pid:
                    return status
                last = f"another process (pid {status.get('pid')}) answers on the port"
        except OSError as exc:
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"devhost at {base_url} did not answer /admin/host/status within {timeout} s ({last})")


def _master_key(app_dir: Path, state_dir: Path) -> str:
    """The launched host's master key ("" while its key file is being written)."""
    try:
        return load_config(app_dir, state_dir).master_key
    except SystemExit:  # the key file exists but is still empty: the host is writing it
        return ""


def launch(app_dir: str | Path = ".", app_module: str = "function_app", state_dir: str | Path = ".factory/devhost",
           port: int | None = None, subscriptions: str | Path | None = None, workers: int | None = None,
           log_file: str | Path | None = None, extra_args: list[str] | None = None, env: dict[str, str] | None = None,
           timeout: float = 60) -> LaunchedHost:
    """Start `python -m devhost` in a subprocess and wait until it answers."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "devhost", "--port", str(port), "--app-dir", str(app_dir), "--app-module",
           app_module, "--state-dir", str(state_dir)]
    if subscriptions:
        cmd += ["--subscriptions", str(subscriptions)]
    if workers:
        cmd += ["--workers", str(workers)]
    if log_file:
        cmd += ["--log-file", str(log_file)]
    cmd += extra_args or []
    child_env = dict(os.environ)
    repo_root = str(Path(__file__).resolve().parent.parent)
    child_env["PYTHONPATH"] = repo_root + os.pathsep + child_env.get("PYTHONPATH", "")
    child_env.update(env or {})
    log_path = Path(log_file) if log_file else None
    stderr_target = subprocess.DEVNULL if log_path else None
    process = subprocess.Popen(cmd, env=child_env, stderr=stderr_target)
    try:
        wait_until_up(f"http://127.0.0.1:{port}", timeout, process, lambda: _master_key(Path(app_dir), Path(state_dir)))
    except Exception:
        if process.poll() is None:
            process.kill()
        raise
    return LaunchedHost(process, port, log_path, Path(app_dir).resolve(), Path(state_dir).resolve())
