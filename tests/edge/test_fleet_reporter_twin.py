"""Where the fleet reporter (``edge/fleet_reporter/reporter.py``) reaches its module twin: the IoT Edge runtime's
environment picks azure-iot-device's ``IoTHubModuleClient.create_from_edge_environment()`` (``EdgeTwin``), the
simulator's picks its twin socket (``SimulatorTwin``, exercised for real on a unix socket here).

The SDK path is verified offline only: ``RecordingModuleClient`` stands in for the SDK's synchronous
``IoTHubModuleClient`` (the methods and handler property the reporter uses: ``connect``, ``get_twin``,
``patch_twin_reported_properties``, ``on_twin_desired_properties_patch_received``) and the tests assert the exact
calls and payloads; the image with the SDK is built by the ACR task (``edge/fleet_reporter/acr-task.yaml``,
which runs ``import azure.iot.device`` in each image)."""

from __future__ import annotations

import http.server
import importlib.util
import json
import socketserver
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EDGE_ENV = {"IOTEDGE_WORKLOADURI": "unix:///var/run/iotedge/workload.sock", "IOTEDGE_DEVICEID": "truck-01",
            "IOTEDGE_MODULEID": "nyc-taxi-reporter", "IOTEDGE_IOTHUBHOSTNAME": "hub.azure-devices.net",
            "IOTEDGE_MODULEGENERATIONID": "637", "IOTEDGE_APIVERSION": "2019-01-30"}


def _reporter():
    path = ROOT / "edge" / "fleet_reporter" / "reporter.py"
    spec = importlib.util.spec_from_file_location("fleet_reporter_twin", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class RecordingModuleClient:
    """Records every call the reporter makes on the SDK's module client; ``twin`` is what ``get_twin`` answers."""

    created = 0

    def __init__(self, twin: dict[str, Any] | None = None, fail: Exception | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.twin = twin if twin is not None else {"desired": {}, "reported": {}}
        self.fail = fail
        self.on_twin_desired_properties_patch_received: Any = None

    @classmethod
    def create_from_edge_environment(cls) -> RecordingModuleClient:
        cls.created += 1
        return cls({"desired": {"factory": {"model": "nyc_taxi", "version": "4"}, "$version": 2}, "reported": {}})

    def connect(self) -> None:
        self.calls.append(("connect", None))

    def get_twin(self) -> dict[str, Any]:
        self.calls.append(("get_twin", None))
        if self.fail is not None:
            raise self.fail
        return self.twin

    def patch_twin_reported_properties(self, patch: dict[str, Any]) -> None:
        self.calls.append(("patch_twin_reported_properties", patch))
        if self.fail is not None:
            raise self.fail


@pytest.fixture
def fake_sdk(monkeypatch):
    """``azure.iot.device`` with ``RecordingModuleClient`` as its ``IoTHubModuleClient``."""
    RecordingModuleClient.created = 0
    package = types.ModuleType("azure.iot.device")
    package.IoTHubModuleClient = RecordingModuleClient  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure.iot.device", package)
    return package


def test_the_iot_edge_environment_picks_the_sdk_client_from_the_edge_environment(fake_sdk):
    reporter = _reporter()
    twin = reporter.twin_from_environment({**EDGE_ENV, "FACTORY_EDGE_SIM_TWIN_URL": "unix:///tmp/x.sock"})
    assert isinstance(twin, reporter.EdgeTwin) and RecordingModuleClient.created == 1
    assert twin._client.calls == [("connect", None)]
    assert twin._client.on_twin_desired_properties_patch_received is not None  # the patch handler is set
    assert twin.report_seconds == 60.0  # each changed report is a twin update against IoT Hub's throttle


def test_the_simulator_environment_picks_its_twin_socket_and_neither_is_refused_by_name(fake_sdk):
    reporter = _reporter()
    partial = {k: v for k, v in EDGE_ENV.items() if k != "IOTEDGE_MODULEGENERATIONID"}
    twin = reporter.twin_from_environment({**partial, "FACTORY_EDGE_SIM_TWIN_URL": "unix:///tmp/sim/twin.sock"})
    assert isinstance(twin, reporter.SimulatorTwin) and twin.path == "/tmp/sim/twin.sock"
    assert RecordingModuleClient.created == 0 and twin.report_seconds == 3.0
    with pytest.raises(SystemExit, match="IOTEDGE_WORKLOADURI.*FACTORY_EDGE_SIM_TWIN_URL"):
        reporter.twin_from_environment({"FACTORY_EDGE_SIM_TWIN_URL": "http://127.0.0.1:1"})


def test_the_sdk_twin_reads_desired_once_and_keeps_it_current_from_the_patches():
    reporter = _reporter()
    now = [100.0]
    client = RecordingModuleClient({"desired": {"factory": {"model": "nyc_taxi", "version": "4", "runId": "r4"},
                                                "traffic": {"per_second": 1}, "$version": 7},
                                    "reported": {"factory": {"version": "4"}, "$version": 3}})
    twin = reporter.EdgeTwin(client, clock=lambda: now[0])
    assert twin.desired() == {"factory": {"model": "nyc_taxi", "version": "4", "runId": "r4"},
                              "traffic": {"per_second": 1}, "$version": 7}
    handler = client.on_twin_desired_properties_patch_received
    handler({"factory": {"version": "5", "runId": "r5"}, "traffic": None, "$version": 8})  # the hub's patch
    handler({"factory": {"version": "3"}, "$version": 6})  # older than what the twin holds: ignored
    assert twin.desired() == {"factory": {"model": "nyc_taxi", "version": "5", "runId": "r5"}, "$version": 8}
    assert client.calls == [("connect", None), ("get_twin", None)]  # read once, then kept from the patches
    now[0] += reporter.TWIN_REFRESH_SECONDS  # and read whole again every TWIN_REFRESH_SECONDS
    assert twin.desired()["factory"]["version"] == "4"
    assert client.calls == [("connect", None), ("get_twin", None), ("get_twin", None)]


def test_a_desired_patch_without_an_integer_version_is_not_merged_and_the_whole_twin_is_read_again():
    reporter = _reporter()
    client = RecordingModuleClient({"desired": {"factory": {"version": "4"}, "$version": 7}})
    twin = reporter.EdgeTwin(client, clock=lambda: 100.0)
    assert twin.desired()["factory"]["version"] == "4"
    for unordered in ({"factory": {"version": "9"}, "$version": "8"}, {"factory": {"version": "9"}},
                      {"factory": {"version": "9"}, "$version": True}, {"factory": {"version": "9"}, "$version": 7.5}):
        client.calls.clear()
        client.on_twin_desired_properties_patch_received(unordered)
        assert twin.desired()["factory"]["version"] == "4", unordered  # the twin as read, not the patch
        assert client.calls == [("get_twin", None)], unordered  # read whole again, once
        assert twin.desired()["factory"]["version"] == "4" and client.calls == [("get_twin", None)]


PATCH_CASES = [
    ({}, {}),
    ({"a": 1}, {"a": None}),
    ({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": [1, {"e": 2}]}}),
    ({"a": {"b": 1}}, {"a": 3}),
    ({"a": 3}, {"a": {"b": None, "c": {"d": None}}}),
    ({"m": {"x": {"y": {"z": 1}}}, "$version": 3}, {"m": {"x": {"y": {"z": None, "w": False}}}, "$version": 4}),
    ({"keep": [1, 2]}, {"new": None, "keep": [3]}),
]


@pytest.mark.parametrize(("target", "patch"), PATCH_CASES)
def test_the_reporters_merge_patch_equals_the_factorys(target, patch):
    """The reporter image carries its own copy (standard library only, no factory package): the same result as
    ``factory.edge.twin_patch.merge_patch`` (RFC 7396), and neither changes its inputs."""
    from factory.edge.twin_patch import merge_patch

    before = json.dumps([target, patch], sort_keys=True)
    assert _reporter().merge_patch(target, patch) == merge_patch(target, patch)
    assert json.dumps([target, patch], sort_keys=True) == before


def test_the_sdk_twin_sends_the_report_as_one_reported_properties_patch():
    reporter = _reporter()
    client = RecordingModuleClient()
    twin = reporter.EdgeTwin(client)
    report = {"version": "5", "health": "ok", "signals": {"5": {"requests": 10, "errors": 0, "p50_ms": 1.5,
                                                              "p95_ms": 3.0, "histogram": {"class_1": 10}}}}
    twin.report({"factory": report})
    assert client.calls[1:] == [("patch_twin_reported_properties", {"factory": report})]


def test_sdk_errors_become_the_os_errors_the_reporters_loop_retries():
    reporter = _reporter()

    class ClientError(Exception):  # what azure.iot.device.exceptions raise: not an OSError
        pass

    twin = reporter.EdgeTwin(RecordingModuleClient(fail=ClientError("edgeHub unreachable")))
    with pytest.raises(OSError, match="get_twin: edgeHub unreachable"):
        twin.desired()
    with pytest.raises(OSError, match="patch_twin_reported_properties: edgeHub unreachable"):
        twin.report({"factory": {"version": "5"}})


class _TwinHandler(http.server.BaseHTTPRequestHandler):
    twin: dict[str, Any] = {}
    patches: list[Any] = []

    def do_GET(self) -> None:  # noqa: N802
        self._answer(self.twin if self.path == "/twin" else None)

    def do_PATCH(self) -> None:  # noqa: N802
        self.patches.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self._answer({})

    def _answer(self, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):  # BaseHTTPRequestHandler wants a client address tuple
        conn, _ = super().get_request()
        return conn, ("local", 0)


def test_the_simulator_twin_reads_desired_and_patches_reported_on_its_socket(tmp_path):
    reporter = _reporter()
    _TwinHandler.twin = {"desired": {"factory": {"version": "2"}}, "reported": {}}
    _TwinHandler.patches = []
    path = tmp_path / "twin.sock"
    server = _UnixServer(str(path), _TwinHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        twin = reporter.SimulatorTwin(f"unix://{path}")
        assert twin.desired() == {"factory": {"version": "2"}}
        twin.report({"factory": {"version": "2", "health": "ok"}})
        assert _TwinHandler.patches == [{"factory": {"version": "2", "health": "ok"}}]
    finally:
        server.shutdown()
        server.server_close()


class _ModelHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        data = json.dumps({"version": "7", "requests": 3, "errors": 0, "refused": 0, "p50_ms": 1.0, "p95_ms": 2.0,
                           "histogram": {"a": 3}}).encode()
        self.send_response(200 if self.path == "/signals" else 404)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_the_reporter_process_on_the_simulator_socket_reports_the_models_signals(tmp_path):
    import os
    import subprocess
    import time

    _TwinHandler.twin = {"desired": {"factory": {"version": "7"}}, "reported": {}}
    _TwinHandler.patches = []
    twin_server = _UnixServer(str(tmp_path / "twin.sock"), _TwinHandler)
    model_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ModelHandler)
    for server in (twin_server, model_server):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOTEDGE_")}
    env.update(MODEL_MODULE="127.0.0.1", MODEL_PORT=str(model_server.server_address[1]), REPORT_SECONDS="0.2",
               FACTORY_EDGE_SIM_TWIN_URL=f"unix://{tmp_path / 'twin.sock'}")
    proc = subprocess.Popen([sys.executable, str(ROOT / "edge" / "fleet_reporter" / "reporter.py")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not _TwinHandler.patches and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert _TwinHandler.patches[:1] == [{"factory": {"version": "7", "health": "ok", "signals": {"7": {
            "requests": 3, "errors": 0, "p50_ms": 1.0, "p95_ms": 2.0, "histogram": {"a": 3}}}}}]
        time.sleep(0.6)
        assert len(_TwinHandler.patches) == 1  # an unchanged report is not written again
    finally:
        proc.terminate()
        proc.wait(10)
        for server in (twin_server, model_server):
            server.shutdown()
            server.server_close()
