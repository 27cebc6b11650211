"""Helpers shared by devhost tests (kept out of conftest.py so test modules can import them)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import requests

APP_DIR = Path(__file__).parent / "app"
CONFORMANCE_DIR = Path(__file__).parent / "conformance_app"  # an app in the published samples' shapes
FUNCTION_KEY = "test-function-key"
MASTER_KEY = "test-master-key"
DURABLE_KEY = "test-durable-key"  # Keys.systemKeys.durabletask_extension of the test app
EVENTGRID_KEY = "test-eventgrid-key"  # Keys.systemKeys.eventgrid_extension
DURABLE = "/runtime/webhooks/durabletask"


class Client:
    """Small HTTP helper around one running devhost."""

    def __init__(self, base_url: str, out_dir: Path) -> None:
        self.base = base_url
        self.out = out_dir
        self.http = requests.Session()  # the Durable management API's system key on every call
        self.http.headers["x-functions-key"] = DURABLE_KEY
        self.eg = requests.Session()  # Event Grid webhook and topic: the eventgrid_extension key
        self.eg.headers["x-functions-key"] = EVENTGRID_KEY

    def start(self, name: str, payload: Any = None, instance_id: str | None = None) -> str:
        """Start through the app's own HTTP starter (DurableOrchestrationClient.start_new); returns the id."""
        path = f"/api/orchestrators/{name}" + (f"/{instance_id}" if instance_id else "")
        resp = self.http.post(self.base + path, data=json.dumps(payload))
        assert resp.status_code == 202, resp.text
        return resp.json()["id"]

    def status(self, instance_id: str, history: bool = False) -> dict[str, Any]:
        q = "?showHistory=true&showHistoryOutput=true" if history else ""
        resp = self.http.get(f"{self.base}{DURABLE}/instances/{instance_id}{q}")
        assert resp.status_code in (200, 202), resp.text
        return resp.json()

    def wait(self, instance_id: str, timeout: float = 30, statuses: tuple[str, ...] = ("Completed", "Failed",
             "Terminated")) -> dict[str, Any]:
        deadline = time.time() + timeout
        while True:
            st = self.status(instance_id)
            if st["runtimeStatus"] in statuses:
                return st
            if time.time() > deadline:
                raise AssertionError(f"{instance_id} still {st['runtimeStatus']} after {timeout} s: {st}")
            time.sleep(0.02)

    def raise_event(self, instance_id: str, name: str, data: Any) -> requests.Response:
        return self.http.post(f"{self.base}{DURABLE}/instances/{instance_id}/raiseEvent/{name}", json=data)

    def client_op(self, op: str, instance_id: str, body: Any = None, **params: str) -> requests.Response:
        return self.http.post(f"{self.base}/api/client/{op}/{instance_id}", params=params,
                              data=json.dumps(body) if body is not None else None)

    def lines(self, name: str) -> list[dict[str, Any]]:
        path = self.out / name
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
