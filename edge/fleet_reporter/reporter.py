"""The fleet reporter: a small factory module beside a model module on an IoT Edge device.

Every ``REPORT_SECONDS`` (below) it reads the model module's ``GET /signals`` over the module network
(``http://$MODEL_MODULE:$MODEL_PORT``) and patches its own module twin's reported properties with
``factory: {version, health, signals: {<version>: {requests, errors, p50_ms, p95_ms, histogram}}}``: the version
is the one the model module itself says it serves; earlier versions' signals stay in the twin (a merge patch
only adds). ``health`` is ``ok`` while the model answers, and says why not once it has not answered for
``GRACE_SECONDS`` (the version then is the one the reporter's desired ``factory.version`` names). Nothing is
reported that was not measured.

When its desired properties hold ``traffic: {request: <JSON>, per_second: <float>}`` it also sends that request
to the model's ``POST /score`` at that rate: the local fleet's stand-in for the clients in the field (the local
fleet hub sets it; on a real fleet nobody does, and the model serves its own clients).

Where the twin is comes from the environment (``twin_from_environment``):
- on an IoT Edge device (``IOTEDGE_WORKLOADURI``, ``IOTEDGE_DEVICEID``, ``IOTEDGE_MODULEID``, ... set by the
  runtime): through edgeHub with ``azure.iot.device.IoTHubModuleClient.create_from_edge_environment()``
  (``EdgeTwin``; the SDK is only in the image the ACR task builds, and imported only there); the desired
  properties are read once and kept current from the desired-property patches the hub pushes; reports every
  ``REPORT_SECONDS`` (default 60 there: each changed report is a twin update against IoT Hub's throttle);
- on the local edge simulator: the twin socket it mounts (``FACTORY_EDGE_SIM_TWIN_URL``, ``unix:///...``),
  ``GET /twin`` and ``PATCH /twin/reported`` (``SimulatorTwin``; default ``REPORT_SECONDS`` 3).

Standard library only outside ``EdgeTwin``.
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
GRACE_SECONDS = float(os.environ.get("GRACE_SECONDS", "180"))  # a model under qemu starts slowly
EDGE_ENV = ("IOTEDGE_WORKLOADURI", "IOTEDGE_DEVICEID", "IOTEDGE_MODULEID", "IOTEDGE_IOTHUBHOSTNAME",
            "IOTEDGE_MODULEGENERATIONID", "IOTEDGE_APIVERSION")
SIM_ENV = "FACTORY_EDGE_SIM_TWIN_URL"
TWIN_REFRESH_SECONDS = 600.0  # on a device, the whole twin is read again this often (patches missed offline)
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


class SimulatorTwin:
    """This module's twin through the local edge simulator's twin socket (``unix://<path>``)."""

    report_seconds = 3.0

    def __init__(self, url: str) -> None:
        self.path = url.removeprefix("unix://")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        conn = _UnixConnection(self.path)
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

    def desired(self) -> dict[str, Any]:
        found = self._call("GET", "/twin").get("desired")
        return found if isinstance(found, dict) else {}

    def report(self, patch: dict[str, Any]) -> None:
        self._call("PATCH", "/twin/reported", patch)


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``target`` with a twin patch applied as IoT Hub applies one (JSON merge patch: ``None`` deletes)."""
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_patch(merged[key], value)
        else:
            merged[key] = value
    return merged


def _is_version(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class EdgeTwin:
    """This module's twin through edgeHub on an IoT Edge device (azure-iot-device's synchronous
    ``IoTHubModuleClient``): the desired properties read with ``get_twin`` once (and every
    ``TWIN_REFRESH_SECONDS``) and kept current from the desired-property patches; reports with
    ``patch_twin_reported_properties``."""

    report_seconds = 60.0

    def __init__(self, client: Any = None, clock: Any = time.monotonic) -> None:
        if client is None:
            from azure.iot.device import IoTHubModuleClient  # only in the image built for a device

            client = IoTHubModuleClient.create_from_edge_environment()
        self._client, self._clock = client, clock
        self._lock = threading.Lock()
        self._desired: dict[str, Any] | None = None
        self._read_at = 0.0
        client.on_twin_desired_properties_patch_received = self._patched
        client.connect()

    def _patched(self, patch: Any) -> None:
        """A desired-property patch from the hub: merged when its ``$version`` is newer than the twin held; a
        patch without an integer ``$version`` cannot be ordered, so the whole twin is read again instead."""
        if not isinstance(patch, dict):
            return
        with self._lock:
            if self._desired is None:
                return
            new, held = patch.get("$version"), self._desired.get("$version")
            if not _is_version(new):
                self._read_at = float("-inf")  # desired() reads the whole twin next
            elif not _is_version(held) or new > held:
                self._desired = merge_patch(self._desired, patch)

    def desired(self) -> dict[str, Any]:
        with self._lock:
            if self._desired is None or self._clock() - self._read_at >= TWIN_REFRESH_SECONDS:
                try:
                    found = self._client.get_twin().get("desired")
                except Exception as exc:  # the SDK's errors (ClientError, ...): the reporter's loop retries
                    raise OSError(f"get_twin: {exc}") from exc
                self._desired, self._read_at = (found if isinstance(found, dict) else {}), self._clock()
            return dict(self._desired)

    def report(self, patch: dict[str, Any]) -> None:
        try:
            self._client.patch_twin_reported_properties(patch)
        except Exception as exc:  # as above
            raise OSError(f"patch_twin_reported_properties: {exc}") from exc


def twin_from_environment(environ: dict[str, str]) -> SimulatorTwin | EdgeTwin:
    """The twin of the environment this module runs in: the IoT Edge runtime's, else the simulator's."""
    if all(environ.get(name) for name in EDGE_ENV):
        return EdgeTwin()
    if environ.get(SIM_ENV, "").startswith("unix://"):
        return SimulatorTwin(environ[SIM_ENV])
    raise SystemExit(f"fleet reporter: no module twin reachable: neither the IoT Edge environment "
                     f"({', '.join(EDGE_ENV)}) nor a unix:// {SIM_ENV} is set")


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
    if not MODULE:
        print("fleet reporter: MODEL_MODULE is required", file=sys.stderr)
        return 2
    twin = twin_from_environment(dict(os.environ))
    report_seconds = float(os.environ.get("REPORT_SECONDS") or twin.report_seconds)
    traffic = Traffic()
    traffic.start()
    last_answer = time.monotonic()
    last_sent: Any = None
    while True:
        desired: dict[str, Any] = {}
        try:
            desired = twin.desired()
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
                twin.report({"factory": report})
                last_sent = report
            except (OSError, ValueError) as exc:
                print(f"cannot write the twin: {exc}", file=sys.stderr)
        time.sleep(report_seconds)


if __name__ == "__main__":
    sys.exit(main())
