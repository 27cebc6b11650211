"""Helpers shared by the model tests (importable: tests/models/conftest.py puts this folder on sys.path)."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from factory.kit import place_kit_beside

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"


def _kind(folder: Path) -> str:
    data = (yaml.safe_load((folder / "model.yaml").read_text()) or {}).get("data") or {}
    return data.get("kind", "table")


# discovered from models/, not listed: the tabular models (data.kind table) and the image models (ONNX)
_FOLDERS = sorted(p.parent for p in MODELS.glob("*/model.yaml"))
MODEL_NAMES = tuple(f.name for f in _FOLDERS if _kind(f) == "table")
IMAGE_MODEL_NAMES = tuple(f.name for f in _FOLDERS if _kind(f) == "images")
ALL_MODEL_NAMES = tuple(sorted(MODEL_NAMES + IMAGE_MODEL_NAMES))


def copy_model(source: str, name: str, models_dir: Path) -> Path:
    """A copy of ``models/<source>`` named ``name`` under ``models_dir`` (model.yaml renamed accordingly), with
    the kit beside ``models_dir`` as in the repository."""
    place_kit_beside(models_dir)
    dest = models_dir / name
    shutil.copytree(MODELS / source, dest, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    spec = yaml.safe_load((dest / "model.yaml").read_text())
    spec["name"] = name
    (dest / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return dest


class EventSink:
    """A real Event Grid-like topic endpoint on loopback that records every event array POSTed to it."""

    def __init__(self, port: int = 0) -> None:
        self.events: list[dict] = []
        self.lock = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with sink.lock:
                    sink.events.extend(json.loads(body))
                    sink.lock.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 120.0) -> list[dict]:
        with self.lock:
            self.lock.wait_for(lambda: len(self.events) >= count, timeout=timeout)
            return list(self.events)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


