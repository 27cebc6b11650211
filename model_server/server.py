"""The HTTP server: ``GET /`` (liveness), ``GET /ready`` (200 once ``init()`` finished), ``POST /score``,
``GET /signals`` (the field signals the fleet rollout gates on: ``signals.py``).

Bad input never gets a 500: a body over the size limit, not UTF-8, not JSON, or rejected by the scoring
script (an exception carrying ``http_status`` in 400..499, as ``score.py``'s ``BadRequest`` does) is
answered with that 4xx status and ``{"error": "<what was wrong>"}``. Any other exception from ``run()``
is logged with its traceback and answered 500 with a short message.

``run()`` is called on the event loop thread, one request at a time, which is what a single worker process
does anyway and avoids thread hand-offs; ``init()`` runs in a thread so liveness answers while it loads.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from . import DEFAULT_MAX_BODY, DEFAULT_PORT
from .modelsig import check_from_env
from .signals import ServingSignals

log = logging.getLogger("model_server")

MAX_HEADER_BYTES = 16 * 1024
DISCARD_LIMIT = 64 * 1024 * 1024  # larger bodies over the limit are not drained: the connection is closed
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 411: "Length Required",
           413: "Payload Too Large", 422: "Unprocessable Entity", 431: "Request Header Fields Too Large",
           500: "Internal Server Error", 503: "Service Unavailable"}


def load_scoring_script(path: Path) -> ModuleType:
    """Import a scoring script from a file path as module ``score``; it must define ``init`` and ``run``."""
    spec = importlib.util.spec_from_file_location("score", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules["score"] = module
    spec.loader.exec_module(module)
    for name in ("init", "run"):
        if not callable(getattr(module, name, None)):
            raise ImportError(f"{path}: the scoring script must define {name}()")
    return module


class RawRequest:
    """What a raw-request scoring script (``RAW_HTTP = True``, Azure ML's ``@rawhttp``) gets: the parts of
    Flask's request it uses (``method``, ``headers.get``, ``get_data()``)."""

    def __init__(self, method: str, headers: dict[str, str], body: bytes) -> None:
        self.method, self.data = method, body
        self.headers = _Headers(headers)

    def get_data(self) -> bytes:
        return self.data


class _Headers(dict):
    """Header names compared case-insensitively (stored lower-case)."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


class ScoringApp:
    """The scoring script plus readiness state; ``handle`` maps one request to ``(status, body bytes)``.

    A script with ``RAW_HTTP = True`` gets a ``RawRequest`` (any body, e.g. image bytes); any other gets the
    body as text (it must be UTF-8)."""

    def __init__(self, module: ModuleType, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.module = module
        self.run: Callable[[Any], Any] = module.run
        self.raw = bool(getattr(module, "RAW_HTTP", False))
        self.max_body = max_body
        self.ready = False
        self.signals = ServingSignals()

    def initialise(self) -> None:
        """Check the model folder against its signature (when the image declares one), then ``init()``; a
        folder that does not match raises before anything is loaded, so ``/ready`` never answers 200."""
        started = time.perf_counter()
        checked = check_from_env()
        if checked:
            log.info("model signature: %s", checked)
        self.module.init()
        self.ready = True
        log.info("init() finished in %.2f s; ready", time.perf_counter() - started)

    def handle(self, method: str, path: str, body: bytes,
               headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        path = path.split("?", 1)[0]
        if path == "/score":
            if method != "POST":
                return error(405, f"{method} /score is not supported; POST a JSON body")
            return self.score(body, headers or {})
        if path == "/":
            if method not in ("GET", "HEAD"):
                return error(405, f"{method} / is not supported; use GET")
            return 200, b'{"status":"alive"}'
        if path == "/signals":
            if method not in ("GET", "HEAD"):
                return error(405, f"{method} /signals is not supported; use GET")
            return 200, json.dumps(self.signals.snapshot(), separators=(",", ":")).encode()
        if path == "/ready":
            if method not in ("GET", "HEAD"):
                return error(405, f"{method} /ready is not supported; use GET")
            return (200, b'{"status":"ready"}') if self.ready else error(503, "init() has not finished yet")
        return error(404, f"no route {path}; use GET /, GET /ready, GET /signals or POST /score")

    def score(self, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """Score one request and count it in ``signals`` (its latency, its predictions or its error)."""
        started = time.perf_counter()
        status, payload, result = self._score(body, headers)
        if status == 200:
            self.signals.observe(time.perf_counter() - started, result)
        elif status != 503:  # not loaded yet: nothing was served
            self.signals.failed(time.perf_counter() - started, status)
        return status, payload

    def _score(self, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
        if not self.ready:
            return (*error(503, "the model is not loaded yet (init() has not finished)"), None)
        if self.raw:
            argument: Any = RawRequest("POST", headers or {}, body)
        else:
            try:
                argument = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                return (*error(400, f"request body is not UTF-8 text: {exc}"), None)
        try:
            result = self.run(argument)
        except json.JSONDecodeError as exc:
            return (*error(400, f"request body is not JSON: {exc}"), None)
        except Exception as exc:  # noqa: BLE001 - the boundary between the scoring script and HTTP
            status = getattr(exc, "http_status", None)
            if isinstance(status, int) and 400 <= status < 500:
                return (*error(status, str(exc)), None)
            log.exception("run() failed")
            return (*error(500, f"run() failed: {type(exc).__name__}: {str(exc)[:300]}"), None)
        try:
            return 200, json.dumps(result, separators=(",", ":"), allow_nan=False).encode(), result
        except (TypeError, ValueError) as exc:
            log.error("run() returned a value that is not JSON-serialisable: %s", exc)
            return (*error(500, f"run() returned a value that is not JSON-serialisable: {exc}"), None)


def error(status: int, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"error": message}).encode()


def response_bytes(status: int, body: bytes, keep_alive: bool, head: bool = False) -> bytes:
    connection = b"keep-alive" if keep_alive else b"close"
    header = (b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n"
              % (status, REASONS.get(status, "Unknown").encode(), len(body), connection))
    return header if head else header + body


class HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and pipelining; bodies need ``Content-Length`` (no chunked uploads)."""

    def __init__(self, app: ScoringApp) -> None:
        self.app = app
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.pending: tuple[str, str, int, bool] | None = None  # method, path, content length, keep-alive
        self.headers: dict[str, str] = {}  # the pending request's headers (names lower-case)
        self.discard = 0  # bytes of an over-limit body still to drop

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.buffer.clear()

    def data_received(self, data: bytes) -> None:
        if self.discard:
            dropped = min(self.discard, len(data))
            self.discard -= dropped
            data = data[dropped:]
        self.buffer += data
        while self.transport is not None and not self.transport.is_closing():
            if self.pending is None:
                if not self._parse_head():
                    return
                if self.pending is None:  # answered already (body over the limit); look for the next request
                    continue
            method, path, length, keep_alive = self.pending
            if len(self.buffer) < length:
                return
            body = bytes(self.buffer[:length])
            del self.buffer[:length]
            self.pending = None
            status, payload = self.app.handle(method, path, body, self.headers)
            self._send(status, payload, keep_alive, head=method == "HEAD")

    def _parse_head(self) -> bool:
        """Parse one request head from the buffer into ``self.pending``; False when more bytes are needed.

        Errors are answered here (closing the connection, except for an over-limit body, which is dropped).
        """
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEADER_BYTES:
                self._send(431, error(431, f"request headers exceed {MAX_HEADER_BYTES} bytes")[1], False)
            return False
        head = bytes(self.buffer[:end]).decode("latin-1")
        del self.buffer[:end + 4]
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._send(400, error(400, f"malformed request line {lines[0][:100]!r}")[1], False)
            return False
        method, path, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                self._send(400, error(400, f"malformed header line {line[:100]!r}")[1], False)
                return False
            headers[name.strip().lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._send(411, error(411, "chunked request bodies are not accepted; send Content-Length")[1], False)
            return False
        try:
            length = int(headers.get("content-length", "0"))
            if length < 0:
                raise ValueError(length)
        except ValueError:
            self._send(400, error(400, f"Content-Length {headers['content-length']!r} is not a size")[1], False)
            return False
        if length > self.app.max_body:
            message = f"request body is {length} bytes; the limit is {self.app.max_body} bytes"
            if length - len(self.buffer) > DISCARD_LIMIT:
                self._send(400, error(400, message)[1], False)
                return False
            dropped = min(length, len(self.buffer))
            del self.buffer[:dropped]
            self.discard = length - dropped
            self._send(400, error(400, message)[1], keep_alive)
            return True
        if headers.get("expect", "").lower() == "100-continue" and len(self.buffer) < length:
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.pending = (method, path, length, keep_alive)
        self.headers = headers
        return True

    def _send(self, status: int, body: bytes, keep_alive: bool, head: bool = False) -> None:
        assert self.transport is not None
        self.transport.write(response_bytes(status, body, keep_alive, head))
        if not keep_alive:
            self.transport.close()


async def serve(app: ScoringApp, host: str, port: int) -> None:
    """Serve until SIGTERM/SIGINT; ``init()`` runs in a thread while liveness already answers."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpProtocol(app), host, port, reuse_address=True, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("listening on %s:%d", host, port)
    init = asyncio.ensure_future(asyncio.to_thread(app.initialise))
    init.add_done_callback(lambda task: task.exception() and stop.set())
    await stop.wait()
    server.close()
    if init.done() and init.exception() is not None:
        exc = init.exception()
        log.error("init() failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
        raise SystemExit(3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="model_server", description="Serve an Azure ML scoring script.")
    parser.add_argument("--score", default=os.environ.get("SCORING_SCRIPT", "score.py"), type=Path,
                        help="the scoring script (default: $SCORING_SCRIPT or ./score.py)")
    parser.add_argument("--host", default=os.environ.get("SCORING_HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SCORING_PORT", DEFAULT_PORT)))
    parser.add_argument("--max-body", type=int, default=int(os.environ.get("SCORING_MAX_BODY", DEFAULT_MAX_BODY)),
                        help="largest accepted request body in bytes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("SCORING_LOG_LEVEL", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    module = load_scoring_script(args.score.resolve())
    asyncio.run(serve(ScoringApp(module, args.max_body), args.host, args.port))
    return 0
