"""Local OCI registries (Debian's ``docker-registry``, Distribution v2) and their push-event bridge.

- ``start_registry(name, port, state_dir, notify_url)`` runs ``docker-registry serve CONFIG.yml`` on
  127.0.0.1 with filesystem storage under ``state_dir/registries/<name>``; with ``notify_url`` the registry
  POSTs its push notifications (Distribution envelope) there.
- ``PushEventBridge`` is that notification endpoint: a loopback HTTP listener that turns each manifest push
  *with a tag* into a ``Microsoft.ContainerRegistry.ImagePushed`` Event Grid event (``factory.events``)
  and publishes it to the local Event Grid endpoint. Blob pushes and pushes by digest produce nothing.
- ``python -m localstack.registry --name dev --port 5100 [--eventgrid-endpoint URL]`` runs one
  registry (and its bridge) in the foreground until SIGTERM, for ``model-factory up``.

"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from factory import events
from factory.logrotate import LogLimits, start_rotator
from localstack.supervision import die_with_parent

log = logging.getLogger(__name__)

CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  headers:
    X-Content-Type-Options: [nosniff]
"""

NOTIFICATIONS = """\
notifications:
  endpoints:
    - name: model-factory-bridge
      url: {url}
      timeout: 15s  # longer than factory.events.publish waits (10 s), so a slow endpoint is not sent twice
      threshold: 10
      backoff: 1s
      ignoredmediatypes:
        - application/octet-stream
"""


class RegistryError(RuntimeError):
    """A local registry did not start or answer; the message names it and includes its log tail."""


@dataclass
class RegistryProcess:
    """A running ``docker-registry`` on 127.0.0.1."""

    name: str
    port: int
    process: subprocess.Popen
    config_path: Path
    log_path: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def stop(self) -> None:
        """Terminate the registry (and wait for it)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_registry(name: str, port: int, state_dir: Path, notify_url: str | None = None,
                   timeout: float = 20.0, supervised: bool = False) -> RegistryProcess:
    """Start a Distribution registry on ``127.0.0.1:port`` storing under ``state_dir/registries/name``.

    ``supervised`` (the stack's wrapper, ``main``): the registry stays in the wrapper's process group, so
    stopping the group stops it, and gets SIGKILL when the wrapper dies, however it dies: an orphan would keep
    the port and notify a bridge that is gone. Otherwise it runs in its own session (a caller's Ctrl-C does
    not reach it; ``RegistryProcess.stop`` ends it)."""
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    root = (Path(state_dir) / "registries" / name).resolve()
    root.mkdir(parents=True, exist_ok=True)
    config = CONFIG.format(root=root / "storage", port=port)
    if notify_url:
        config += NOTIFICATIONS.format(url=notify_url)
    config_path = root / "config.yml"
    config_path.write_text(config)
    log_path = root / "registry.log"
    rotator = start_rotator(log_path, LogLimits.from_env(os.environ))
    try:
        process = subprocess.Popen([binary, "serve", str(config_path)], stdout=rotator.stdin,
                                   stderr=subprocess.STDOUT, start_new_session=not supervised,
                                   preexec_fn=die_with_parent if supervised else None)
    finally:
        rotator.stdin.close()  # type: ignore[union-attr]  # the registry holds the pipe now
    registry = RegistryProcess(name, port, process, config_path, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RegistryError(f"registry {name} on port {port} exited ({process.returncode}): "
                                f"{log_path.read_text()[-1500:]}")
        try:
            with urllib.request.urlopen(f"{registry.url}/v2/", timeout=1) as resp:
                if resp.status == 200:
                    return registry
        except OSError:
            time.sleep(0.1)
    registry.stop()
    raise RegistryError(f"registry {name} did not answer on {registry.url}/v2/ within {timeout:.0f} s: "
                        f"{log_path.read_text()[-1500:]}")


def pushed_events(envelope: dict[str, Any], registry: str, host: str) -> list[dict[str, Any]]:
    """``ImagePushed`` Event Grid events for the tagged manifest pushes in a Distribution notification."""
    out = []
    for event in envelope.get("events", []):
        target = event.get("target", {})
        if event.get("action") != "push" or not target.get("tag") or "manifest" not in target.get("mediaType", ""):
            continue
        out.append(events.image_pushed(registry=registry, host=host, repository=target["repository"],
                                       tag=target["tag"], digest=target["digest"],
                                       size=int(target.get("size") or target.get("length") or 0),
                                       media_type=target["mediaType"]))
    return out


@dataclass
class PushEventBridge:
    """Receives a registry's push notifications on loopback and publishes ``ImagePushed`` events.

    ``eventgrid_endpoint`` empty: events are built and kept in ``published`` but not sent. A publish that
    fails answers the registry 503, so the registry delivers the notification again (it retries).
    """

    registry: str
    host: str
    eventgrid_endpoint: str = ""
    port: int = 0
    published: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "bridge not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/notify"

    def start(self) -> PushEventBridge:
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    envelope = json.loads(body)
                    status = 200 if bridge.handle(envelope) else 503
                except (json.JSONDecodeError, AttributeError, KeyError, TypeError) as exc:
                    log.warning("ignoring a malformed registry notification: %s", exc)
                    status = 400
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("bridge: " + format, *args)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, name=f"push-bridge-{self.registry}",
                         daemon=True).start()
        return self

    def handle(self, envelope: dict[str, Any]) -> bool:
        """Publish the envelope's tagged manifest pushes; False when the Event Grid endpoint refused them."""
        batch = pushed_events(envelope, self.registry, self.host)
        if not batch:
            return True
        try:
            if self.eventgrid_endpoint:
                events.publish(batch, self.eventgrid_endpoint)
        except OSError as exc:
            log.warning("publishing %d ImagePushed event(s) to %s failed: %s", len(batch), self.eventgrid_endpoint,
                        exc)
            return False
        self.published.extend(batch)
        for event in batch:
            log.info("ImagePushed %s", event["subject"])
        return True

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@dataclass
class RegistryWithBridge:
    """A registry plus the bridge that turns its pushes into events."""

    registry: RegistryProcess
    bridge: PushEventBridge | None

    def stop(self) -> None:
        self.registry.stop()
        if self.bridge is not None:
            self.bridge.stop()


def start_registry_with_events(name: str, port: int, state_dir: Path, eventgrid_endpoint: str = "",
                               bridge_port: int = 0, supervised: bool = False) -> RegistryWithBridge:
    """Start the bridge, then the registry notifying it (the dev registry of the local stack)."""
    bridge = PushEventBridge(registry=name, host=f"127.0.0.1:{port}", eventgrid_endpoint=eventgrid_endpoint,
                             port=bridge_port).start()
    try:
        registry = start_registry(name, port, state_dir, notify_url=bridge.url, supervised=supervised)
    except BaseException:
        bridge.stop()
        raise
    return RegistryWithBridge(registry, bridge)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localstack.registry",
                                     description="Run one local registry (and its push-event bridge).")
    parser.add_argument("--name", required=True, help="registry name, e.g. dev or prod")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, default=Path(".factory"))
    parser.add_argument("--eventgrid-endpoint", default="",
                        help="publish ImagePushed events here (starts the bridge); empty: no events")
    parser.add_argument("--bridge-port", type=int, default=0, help="the bridge's loopback port (default: any free)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # before starting: a SIGTERM during start-up still stops cleanly
        signal.signal(sig, lambda *_: stop.set())
    if args.eventgrid_endpoint:
        running: RegistryWithBridge | RegistryProcess = start_registry_with_events(
            args.name, args.port, args.state_dir, args.eventgrid_endpoint, args.bridge_port, supervised=True)
    else:
        running = start_registry(args.name, args.port, args.state_dir, supervised=True)
    log.info("registry %s on 127.0.0.1:%d", args.name, args.port)
    stop.wait()
    running.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
