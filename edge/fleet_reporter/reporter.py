"""The fleet reporter: a small factory module beside a model module on an IoT Edge device (standard library only).

Every ``REPORT_SECONDS`` it reads the model module's ``GET /signals`` over the module network
(``http://$MODEL_MODULE:$MODEL_PORT``) and patches its own module twin's reported properties with
``factory: {version, health, signals: {<version>: {requests, errors, p50_ms, p95_ms, histogram}}}``: the version
is the one the model module itself says it serves; earlier versions' signals stay in the twin (a merge patch
only adds). ``health`` is ``ok`` while the model answers, and says why not once it has not answered for
``GRACE_SECONDS`` (the version then is the one the reporter's desired ``factory.version`` names). Nothing is
reported that was not measured.

When its desired properties hold ``traffic: {request: <JSON>, per_second: <float>}`` it also sends that request
to the model's ``POST /score`` at that rate: the local fleet's stand-in for the clients in the field (the local
fleet hub sets it; on a real fleet nobody does, and the model serves its own clients).

The twin is reached through the IoT Edge workload socket the simulator mounts (``FACTORY_EDGE_SIM_TWIN_URL``,
``unix:///...``): ``GET /twin``, ``PATCH /twin/reported``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import sys
import threading
import time
from typing import Any

MODULE = os.environ.get("MODEL_MODULE", "")
PORT = int(os.environ.get("MODEL_PORT", "5001"))
REPORT_SECONDS = float(os.environ.get("REPORT_SECONDS", "3"))
GRACE_SECONDS = float(os.environ.get("GRACE_SECONDS", "180"))  # a model under qemu starts slowly
TWIN_URL = os.environ.get("FACTORY_EDGE_SIM_TWIN_URL", "")
MAX_PER_SECOND = 20.0
MAX_BODY = 64 * 1024
SIGNAL_FIELDS = ("requests", "errors", "p50_ms", "p95_ms")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def twin(method: str, path: str, body: Any = None) -> Any:
    """A call to this module's own twin through the workload socket."""
    conn = _UnixConnection(TWIN_URL.removeprefix("unix://"))
    try:
        conn.request(method, path, json.dumps(body) if body is not None else None,
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise OSError(f"twin {method} {path}: HTTP {resp.status}")
        return json.loads(data)
    finally:
        conn.close()


def model(method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(MODULE, PORT, timeout=10)
    try:
        conn.request(method, path, body, {"Content-Type": "application/json"} if body else {})
        resp = conn.getresponse()
        return resp.status, resp.read(MAX_BODY + 1)
    finally:
        conn.close()


def measured(snapshot: Any) -> dict[str, Any] | None:
    """The report section of a ``/signals`` answer, or None when it is not one."""
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("version"), str) or not snapshot["version"]:
        return None
    signals: dict[str, Any] = {k: snapshot.get(k, 0) for k in SIGNAL_FIELDS}
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in signals.values()):
        return None
    histogram = snapshot.get("histogram") or {}
    signals["histogram"] = {str(k): int(v) for k, v in histogram.items() if isinstance(v, int)} \
        if isinstance(histogram, dict) else {}
    return {"version": snapshot["version"], "health": "ok", "signals": {snapshot["version"]: signals}}


class Traffic(threading.Thread):
    """Sends the desired sample request to the model at the desired rate (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="traffic")
        self.request: bytes = b""
        self.per_second = 0.0

    def configure(self, desired: dict[str, Any]) -> None:
        traffic = desired.get("traffic")
        if not isinstance(traffic, dict):
            self.per_second = 0.0
            return
        body = json.dumps(traffic.get("request")).encode()
        rate = traffic.get("per_second")
        if isinstance(rate, int | float) and not isinstance(rate, bool) and rate > 0 and len(body) <= MAX_BODY:
            self.request, self.per_second = body, min(float(rate), MAX_PER_SECOND)
        else:
            self.request, self.per_second = b"", 0.0

    def run(self) -> None:
        while True:
            if self.per_second <= 0:
                time.sleep(1)
                continue
            started = time.monotonic()
            with contextlib.suppress(OSError):  # the model not answering is what the reporter reports
                model("POST", "/score", self.request)
            time.sleep(max(0.0, 1 / self.per_second - (time.monotonic() - started)))


def main() -> int:
    if not MODULE or not TWIN_URL.startswith("unix://"):
        print("MODEL_MODULE and a unix:// FACTORY_EDGE_SIM_TWIN_URL are required", file=sys.stderr)
        return 2
    traffic = Traffic()
    traffic.start()
    last_answer = time.monotonic()
    last_sent: Any = None
    while True:
        desired: dict[str, Any] = {}
        try:
            desired = twin("GET", "/twin").get("desired") or {}
            traffic.configure(desired)
        except (OSError, ValueError) as exc:
            print(f"cannot read the twin: {exc}", file=sys.stderr)
        report: dict[str, Any] | None = None
        why = ""
        try:
            status, body = model("GET", "/signals")
            report = measured(json.loads(body)) if status == 200 else None
            why = f"GET /signals answered HTTP {status}" if report is None else ""
        except (OSError, ValueError) as exc:
            why = f"not answering: {exc}"
        if report is not None:
            last_answer = time.monotonic()
        elif time.monotonic() - last_answer > GRACE_SECONDS:
            factory = desired.get("factory")
            version = factory.get("version", "") if isinstance(factory, dict) else ""
            report = {"version": str(version), "health": why}
        if report is not None and report != last_sent:
            try:
                twin("PATCH", "/twin/reported", {"factory": report})
                last_sent = report
            except (OSError, ValueError) as exc:
                print(f"cannot write the twin: {exc}", file=sys.stderr)
        time.sleep(REPORT_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
