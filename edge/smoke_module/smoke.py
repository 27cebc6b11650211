"""The factory's smoke-test IoT Edge module.

Reads its module twin's desired properties (run id, model module address, cases, timeouts), waits until the
model module answers ``GET /ready``, scores every case (each ``repeat`` times), compares the responses with
the expected ones within the case's tolerance, and reports
``{runId, status: pass|fail, cases, passed, failures, p50Ms, p95Ms, reason}`` as reported properties.

Where the twin lives is decided by the environment the module finds, not by a flag:
- IoT Edge runtime (``IOTEDGE_WORKLOADURI``, ``IOTEDGE_DEVICEID``, ``IOTEDGE_MODULEID``, ...):
  ``azure.iot.device.IoTHubModuleClient.create_from_edge_environment()`` (imported only there);
- the factory's local edge simulator (``FACTORY_EDGE_SIM_TWIN_URL``, ``unix://`` socket or ``http://`` URL):
  its twin endpoint, ``GET <url>/twin`` and ``PATCH <url>/twin/reported``.

A run's final report goes through an outbox (``Outbox``: a file, ``SMOKE_OUTBOX`` or ``<tmp>/smoke-outbox.json``)
before it is sent: when the twin endpoint is gone at that moment (the simulator or the IoT Edge runtime
restarting), the module sends the same report again once the twin answers, instead of running the cases
again; a report already in the twin (same run, a final status) is not sent twice.

Standard library only, so the local image needs nothing from PyPI; ``compare.py`` beside it is the factory's
one response comparison (a copy of ``model_server/compare.py``, kept equal by a test).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import math
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent))  # compare.py beside it, also when loaded by path
from compare import compare  # noqa: E402 (the factory's one response comparison: model_server/compare.py)

LOG = logging.getLogger("smoketest")
EDGE_ENV = ("IOTEDGE_WORKLOADURI", "IOTEDGE_DEVICEID", "IOTEDGE_MODULEID", "IOTEDGE_IOTHUBHOSTNAME",
            "IOTEDGE_MODULEGENERATIONID", "IOTEDGE_APIVERSION")
SIM_ENV = "FACTORY_EDGE_SIM_TWIN_URL"
FINAL = ("pass", "fail")


class TwinClient(Protocol):
    def twin(self) -> dict[str, Any]:
        """``{"desired": {...}, "reported": {...}}``."""

    def report(self, patch: dict[str, Any]) -> None:
        """Merge-patch the reported properties (``None`` deletes a key)."""

    def wait_for_change(self, seconds: float) -> None:
        """Return when desired properties may have changed, or after ``seconds``."""


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class SimulatorTwinClient:
    """The local edge simulator's twin endpoint for this module (a unix socket mounted into the container,
    like the IoT Edge workload socket, or an http URL)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.scheme == "unix":
            conn: http.client.HTTPConnection = _UnixHTTPConnection(parsed.path, self.timeout)
            target = path
        else:
            conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port or 80, timeout=self.timeout)
            target = parsed.path + path
        data = None if body is None else json.dumps(body).encode()
        try:
            conn.request(method, target, body=data, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        if response.status >= 300:
            raise RuntimeError(f"{method} {self.url}{path}: HTTP {response.status} {payload[:300]!r}")
        return json.loads(payload) if payload else None

    def twin(self) -> dict[str, Any]:
        return self._request("GET", "/twin")

    def report(self, patch: dict[str, Any]) -> None:
        self._request("PATCH", "/twin/reported", patch)

    def wait_for_change(self, seconds: float) -> None:
        time.sleep(min(seconds, 1.0))


class EdgeTwinClient:
    """The module twin through the IoT Edge runtime (azure-iot-device, imported only on a device)."""

    def __init__(self) -> None:
        from azure.iot.device import IoTHubModuleClient  # only present in images built for a device

        self._changed = threading.Event()
        self._client = IoTHubModuleClient.create_from_edge_environment()
        self._client.on_twin_desired_properties_patch_received = lambda _patch: self._changed.set()
        self._client.connect()

    def twin(self) -> dict[str, Any]:
        return self._client.get_twin()

    def report(self, patch: dict[str, Any]) -> None:
        self._client.patch_twin_reported_properties(patch)

    def wait_for_change(self, seconds: float) -> None:
        self._changed.wait(seconds)
        self._changed.clear()


def twin_client_from_environment(environ: dict[str, str]) -> TwinClient:
    """The twin client for the environment this module runs in."""
    if all(environ.get(name) for name in EDGE_ENV):
        return EdgeTwinClient()
    if environ.get(SIM_ENV):
        return SimulatorTwinClient(environ[SIM_ENV])
    raise SystemExit(f"smoketest: no module twin reachable: neither the IoT Edge environment ({', '.join(EDGE_ENV)}) "
                     f"nor {SIM_ENV} is set")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _http(method: str, url: str, body: bytes | None, timeout: float) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def wait_ready(url: str, timeout: float, request_timeout: float) -> str:
    """Wait until ``GET url`` answers 200; returns "" or the last error once ``timeout`` has passed."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        try:
            status, body = _http("GET", url, None, min(request_timeout, 5.0))
            if status == 200:
                return ""
            last = f"HTTP {status} {body[:200]!r}"
        except (OSError, http.client.HTTPException) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            return last
        time.sleep(0.5)


def run_smoke(desired: dict[str, Any]) -> dict[str, Any]:
    """Run the cases in ``desired`` against the model module; returns the report (reported properties)."""
    run_id = str(desired.get("runId", ""))
    model_url = str(desired["modelUrl"]).rstrip("/")
    request_timeout = float(desired.get("requestTimeoutSeconds", 30))
    repeat = max(1, int(desired.get("repeat", 1)))
    cases = sorted(desired.get("cases", {}).items(), key=lambda kv: kv[1].get("order", 0))
    report: dict[str, Any] = {"runId": run_id, "model": desired.get("model", ""), "cases": len(cases),
                              "passed": 0, "failures": {}, "p50Ms": 0.0, "p95Ms": 0.0, "requests": 0,
                              "reason": ""}
    not_ready = wait_ready(model_url + desired.get("readyPath", "/ready"),
                           float(desired.get("readyTimeoutSeconds", 300)), request_timeout)
    if not_ready:
        report.update(status="fail", reason=f"model module at {model_url} not ready after "
                                            f"{desired.get('readyTimeoutSeconds', 300)} s: {not_ready}")
        return report
    latencies: list[float] = []
    score_url = model_url + desired.get("scorePath", "/score")
    for key, case in cases:
        name = case.get("name", key)
        expected = json.loads(case["expected"])
        problem = ""
        for attempt in range(repeat):
            started = time.perf_counter()
            try:
                status, body = _http("POST", score_url, case["request"].encode(), request_timeout)
            except (OSError, http.client.HTTPException) as exc:
                problem = f"request {attempt + 1}: {type(exc).__name__}: {exc}"
                break
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                problem = f"request {attempt + 1}: HTTP {status} {body[:200]!r}"
                break
            try:
                actual = json.loads(body)
            except json.JSONDecodeError:
                problem = f"request {attempt + 1}: response is not JSON: {body[:200]!r}"
                break
            diffs = compare(expected, actual, float(case.get("absTol", 0.0)), float(case.get("relTol", 0.0)), "$")
            if diffs:
                problem = f"request {attempt + 1}: " + "; ".join(diffs[:5]) + (" ..." if len(diffs) > 5 else "")
                break
        if problem:
            report["failures"][key] = f"{name}: {problem}"[:1000]
        else:
            report["passed"] += 1
    report.update(requests=len(latencies), p50Ms=round(percentile(latencies, 50), 3),
                  p95Ms=round(percentile(latencies, 95), 3))
    if not cases:
        report.update(status="fail", reason="no cases in the desired properties")
    elif report["failures"]:
        report.update(status="fail", reason=f"{len(report['failures'])} of {len(cases)} cases failed")
    else:
        report["status"] = "pass"
    return report


class Outbox:
    """The final report not yet acknowledged by the twin, kept in a file so it survives a lost connection (and a
    module restart that keeps the container's files)."""

    def __init__(self, path: Path | None = None) -> None:
        default = Path(tempfile.gettempdir()) / "smoke-outbox.json"
        self.path = path or Path(os.environ.get("SMOKE_OUTBOX", "") or default)

    def pending(self) -> dict[str, Any] | None:
        try:
            found = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return found if isinstance(found, dict) and found.get("runId") else None

    def put(self, report: dict[str, Any]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(report))
        tmp.replace(self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def serve_once(client: TwinClient, outbox: Outbox | None = None) -> dict[str, Any] | None:
    """Run the smoke test if the desired properties hold a run not reported yet, or send the report of that run
    the outbox still holds (``serve`` keeps one; without it a report is sent once); returns the report sent."""
    twin = client.twin()
    desired, reported = twin.get("desired", {}), twin.get("reported", {})
    run_id = desired.get("runId")
    already = reported.get("runId") == run_id and reported.get("status") in FINAL
    pending = outbox.pending() if outbox else None
    if outbox and pending is not None and (pending.get("runId") != run_id or already):
        outbox.clear()  # another run now, or the twin has it already (sent before the connection dropped)
        pending = None
    if not run_id or already or "modelUrl" not in desired:
        return None
    if outbox and pending is not None:
        client.report(pending)  # the twin was gone when this was first sent
        outbox.clear()
        LOG.info("smoke run %s: %s (sent again from the outbox)", run_id, pending["status"])
        return pending
    LOG.info("smoke run %s against %s", run_id, desired["modelUrl"])
    # "failures": None clears the previous run's failures (reported properties are merge-patched).
    client.report({"runId": run_id, "status": "running", "failures": None, "reason": "",
                   "startedAt": dt.datetime.now(dt.UTC).isoformat()})
    try:
        report = run_smoke(desired)
    except Exception as exc:  # a broken desired document must still give a verdict, not a silent module
        report = {"runId": run_id, "status": "fail", "reason": f"smoke module error: {exc!r}"[:1000]}
    report["finishedAt"] = dt.datetime.now(dt.UTC).isoformat()
    if outbox:
        outbox.put(report)
    client.report(report)
    if outbox:
        outbox.clear()
    LOG.info("smoke run %s: %s %s", run_id, report["status"], report.get("reason", ""))
    return report


def serve(client: TwinClient, poll_seconds: float = 30.0) -> None:
    """Run once per new ``runId`` in the desired properties, forever (the module keeps running on the device)."""
    outbox = Outbox()
    while True:
        try:
            serve_once(client, outbox)
        except (OSError, RuntimeError, http.client.HTTPException) as exc:  # twin unreachable for a moment
            LOG.warning("twin not reachable: %s", exc)
        client.wait_for_change(poll_seconds)


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1 ignores SIGTERM unless handled
    serve(twin_client_from_environment(dict(os.environ)))


if __name__ == "__main__":
    main()
