"""The edge simulator's module twins as the modules reach them: each module's own unix socket (mounted into
its container, as the IoT Edge workload socket is) serving ``GET /twin`` and ``PATCH /twin/reported`` for that
module only; reported patches merge as IoT Hub merges them."""

from __future__ import annotations

import json
import logging
import os
import socketserver
import stat
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Protocol

from factory.edge.twin_patch import merge_patch as merge_patch  # re-exported for edge_simulator

LOG = logging.getLogger("factory.edge_sim")
MAX_SOCKET_PATH = 100  # AF_UNIX paths are at most 107 bytes; a deep state folder (a test's tmp dir) is more


class Twins(Protocol):
    """What a module's socket serves: the device's twins (``EdgeSimulator``)."""

    def twin(self, module: str) -> dict[str, Any] | None: ...

    def patch_reported(self, module: str, patch: dict[str, Any]) -> dict[str, Any]: ...


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def address_string(self) -> str:
        return str(self.client_address or "unix")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (BaseHTTPRequestHandler's signature)
        LOG.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null")


def module_handler(twins: Twins, module: str) -> type[BaseHTTPRequestHandler]:
    """The twin endpoint one module sees through its socket: its own twin and nothing else."""

    class ModuleHandler(JsonHandler):
        def do_GET(self) -> None:
            twin = twins.twin(module)
            if self.path != "/twin" or twin is None:
                self._send(404, {"error": f"module {module}: no twin at {self.path}"})
            else:
                self._send(200, twin)

        def do_PATCH(self) -> None:
            if self.path != "/twin/reported":
                self._send(404, {"error": f"no {self.path}"})
                return
            patch = self._body()
            if not isinstance(patch, dict):
                self._send(400, {"error": "reported-property patch must be a JSON object"})
                return
            try:
                self._send(200, twins.patch_reported(module, patch))
            except KeyError:
                self._send(404, {"error": f"module {module} is not deployed"})

    return ModuleHandler


class _ModuleSocketServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def bind_socket(folder: Path, name: str, handler: type[BaseHTTPRequestHandler]) -> _ModuleSocketServer:
    """A unix socket server at ``folder/name``, bound through ``/proc/self/fd/<folder>`` when the full path is
    longer than AF_UNIX allows (the socket is made in the folder all the same; the container sees its mount)."""
    path = folder / name
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        return _ModuleSocketServer(str(path), handler)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return _ModuleSocketServer(f"/proc/self/fd/{fd}/{name}", handler)
    finally:
        os.close(fd)


class ModuleSockets:
    """The twin sockets of a device's modules, at ``state_dir/modules/<module>/twin.sock``."""

    def __init__(self, state_dir: Path, twins: Twins) -> None:
        self.state_dir = state_dir
        self.twins = twins
        self._servers: dict[str, socketserver.BaseServer] = {}

    def start(self, module: str) -> None:
        folder = self.state_dir / "modules" / module
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)
        path = folder / "twin.sock"
        path.unlink(missing_ok=True)
        server = bind_socket(folder, path.name, module_handler(self.twins, module))
        path.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IWGRP | stat.S_IROTH | stat.S_IWOTH)
        threading.Thread(target=server.serve_forever, name=f"twin-{module}", daemon=True).start()
        self._servers[module] = server

    def stop(self, module: str) -> None:
        server = self._servers.pop(module, None)
        if server is not None:
            server.shutdown()
            server.server_close()

    def stop_all(self) -> None:
        for module in list(self._servers):
            self.stop(module)
