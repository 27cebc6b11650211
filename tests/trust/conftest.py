"""Real parts for the trust-boundary tests: Azurite, a loopback listener that records every request it gets
(so a test can prove no credential arrived), and devhost running the product Functions app on them."""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from localstack.stack import ROOT, LocalStack, StackPorts

SERVICES = ("azurite", "devhost")  # enough for data intake, validation and the HTTP surface


class Listener:
    """A loopback HTTP server standing in for "another host": it records each request's headers."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
                body = b"alcohol,malic_acid\n1,2\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", '"0x1"')
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def credentials_seen(self) -> list[str]:
        return [r.get("authorization", "") for r in self.requests if r.get("authorization")]


@pytest.fixture
def listener() -> Iterator[Listener]:
    lst = Listener()
    yield lst
    lst.server.shutdown()


@pytest.fixture(scope="session")
def app_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Azurite and devhost with the real app and the example models (no registries, no edge)."""
    base = tmp_path_factory.mktemp("trust")
    models = base / "models"
    for name in ("wine_cultivar", "nyc_taxi"):
        shutil.copytree(ROOT / "models" / name, models / name, ignore=shutil.ignore_patterns("__pycache__"))
    stack = LocalStack(base / "state", StackPorts.free(), extra_env={"FACTORY_MODELS_DIR": str(models)})
    try:
        for service in stack.services():
            if service.name in SERVICES:
                stack.start(service)
        yield stack
    finally:
        for name in SERVICES:  # they are this process's children: reap them, so stop() sees them gone at once
            pid = stack.pid(name)
            if pid:
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGTERM)
                    os.waitpid(pid, 0)
        stack.down()


@pytest.fixture
def app_env(app_stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """This process configured like the app (so ``factory.steps`` runs against the stack's Azurite)."""
    from factory.backends import services

    env = app_stack.settings_env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    services.cache_clear()
    yield env
    services.cache_clear()


def csv_file(tmp: Path, text: str, name: str = "wine.csv") -> Path:
    path = tmp / name
    path.write_text(text)
    return path
