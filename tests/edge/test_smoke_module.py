"""The smoke module's logic against a real model server on 127.0.0.1 and the simulator's real twin socket."""

from __future__ import annotations

import importlib.util
import os
import stat
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from factory.edge.manifest import SMOKE_MODULE, SmokeCase, SmokeDeployment, build_manifest, smoke_desired_properties
from factory.edge.verdict import verdict_from_reported
from localstack.edge_simulator import EdgeSimulator

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "cd" * 32


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


smoke = _load("smoketest_module", ROOT / "edge" / "smoke_module" / "smoke.py")
test_model = _load("edge_test_model_server", Path(__file__).parent / "fixtures" / "test_model" / "server.py")


@pytest.fixture(params=[0.0, 1.0], ids=["right", "wrong"])
def model_server(request, monkeypatch) -> Iterator[tuple[str, float]]:
    """The test model server in-process on a free port; the "wrong" one adds 1 to every prediction."""
    monkeypatch.setattr(test_model, "OFFSET", request.param)
    server = ThreadingHTTPServer(("127.0.0.1", 0), test_model.Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", request.param
    server.shutdown()


CASES = [SmokeCase("two rows", {"data": [[1, 2], [3, 4]]}, {"predictions": [6.0, 14.0]}),
         SmokeCase("one row", {"data": [[0.5, 0.25]]}, {"predictions": [1.5]}, abs_tol=1e-9)]


def desired_for(url: str, run_id: str = "run-7") -> dict:
    desired = smoke_desired_properties(SmokeDeployment(run_id, "m", f"r/m@{DIGEST}", "r/s", CASES, repeat=4,
                                                       ready_timeout_seconds=5))
    return {**desired, "modelUrl": url}


def test_run_smoke_passes_a_right_model_and_names_every_failing_case_of_a_wrong_one(model_server):
    url, offset = model_server
    report = smoke.run_smoke(desired_for(url))
    assert report["runId"] == "run-7" and report["cases"] == 2 and report["requests"] >= 2
    if offset == 0:
        assert report["status"] == "pass" and report["failures"] == {} and report["requests"] == 8
        assert 0 < report["p50Ms"] <= report["p95Ms"]
    else:
        assert report["status"] == "fail" and report["passed"] == 0
        assert report["failures"]["two_rows"].startswith("two rows: request 1: $.predictions[0]: expected 6.0")
        assert "got 7.0" in report["failures"]["two_rows"]
        assert report["failures"]["one_row"].startswith("one row:")


def test_model_that_never_becomes_ready_fails_with_the_reason():
    desired = {**desired_for("http://127.0.0.1:9"), "readyTimeoutSeconds": 1}
    report = smoke.run_smoke(desired)
    assert report["status"] == "fail" and "not ready after 1 s" in report["reason"]


@pytest.mark.parametrize("expected,actual,tol,ok", [
    ({"predictions": [1.0, 2.0]}, {"predictions": [1.0000001, 2.0], "model": "x"}, 1e-6, True),
    ({"predictions": [1.0]}, {"predictions": [1.1]}, 1e-6, False),
    ({"predictions": [1.0]}, {"predictions": [1.0, 2.0]}, 1e-6, False),
    ({"predictions": ["cat"]}, {"predictions": ["cat"]}, 0.0, True),
    ({"predictions": [1]}, {"predictions": [True]}, 0.0, False),
    ({"predictions": [1.0]}, {"scores": [1.0]}, 1e-6, False),
])
def test_compare_tolerance_and_shapes(expected, actual, tol, ok):
    assert (smoke.compare(expected, actual, tol, 0.0) == []) is ok


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert smoke.percentile(values, 50) == 50.0 and smoke.percentile(values, 95) == 95.0
    assert smoke.percentile([], 95) == 0.0


def test_twin_client_is_chosen_by_the_environment(monkeypatch):
    assert isinstance(smoke.twin_client_from_environment({"FACTORY_EDGE_SIM_TWIN_URL": "unix:///x.sock"}),
                      smoke.SimulatorTwinClient)
    # On a device (the runtime's IOTEDGE_* variables) the IoT Hub module client wins, even next to the simulator's.
    monkeypatch.setattr(smoke, "EdgeTwinClient", lambda: "iot-edge module client")
    edge_env = {name: "x" for name in smoke.EDGE_ENV}
    assert smoke.twin_client_from_environment({**edge_env, "FACTORY_EDGE_SIM_TWIN_URL": "unix:///x.sock"}) == \
        "iot-edge module client"
    partial = {k: v for k, v in edge_env.items() if k != "IOTEDGE_WORKLOADURI"}
    assert isinstance(smoke.twin_client_from_environment({**partial, "FACTORY_EDGE_SIM_TWIN_URL": "unix:///x"}),
                      smoke.SimulatorTwinClient)
    with pytest.raises(SystemExit, match="no module twin reachable"):
        smoke.twin_client_from_environment({})


def test_module_reports_through_the_simulator_twin_socket_once_per_run(model_server, tmp_path):
    url, offset = model_server
    sim = EdgeSimulator(tmp_path / "sim")
    manifest = build_manifest(SmokeDeployment("run-9", "m", f"r/m@{DIGEST}", "r/s", CASES, ready_timeout_seconds=5))
    manifest["modulesContent"][SMOKE_MODULE]["properties.desired"]["modelUrl"] = url
    sim.content = manifest["modulesContent"]  # the twins only: no containers in this test
    sim._start_socket(SMOKE_MODULE)
    try:
        client = smoke.SimulatorTwinClient(f"unix://{tmp_path / 'sim' / 'modules' / SMOKE_MODULE / 'twin.sock'}")
        report = smoke.serve_once(client)
        assert report is not None and report["runId"] == "run-9"
        assert smoke.serve_once(client) is None  # already reported for this run: not run again
        verdict = verdict_from_reported("run-9", sim.twin(SMOKE_MODULE)["reported"])
        assert verdict is not None and verdict.status == ("pass" if offset == 0 else "fail")
        assert verdict.cases == 2 and len(verdict.failures) == (0 if offset == 0 else 2)
        assert verdict_from_reported("another-run", sim.twin(SMOKE_MODULE)["reported"]) is None
    finally:
        sim.close()


def test_a_state_folder_deeper_than_unix_sockets_allow_still_gets_its_module_socket(model_server, tmp_path):
    """AF_UNIX paths stop at 107 bytes; a simulator whose state folder is deeper (a CI tmp dir) still makes
    the module's socket in its folder, and the module (which sees it through its mount) reports through it."""
    url, _ = model_server
    state = tmp_path / ("deep-" * 12) / "edge-sim-arm64"
    sim = EdgeSimulator(state)
    manifest = build_manifest(SmokeDeployment("run-10", "m", f"r/m@{DIGEST}", "r/s", CASES, ready_timeout_seconds=5))
    manifest["modulesContent"][SMOKE_MODULE]["properties.desired"]["modelUrl"] = url
    sim.content = manifest["modulesContent"]
    sim._start_socket(SMOKE_MODULE)
    folder = state / "modules" / SMOKE_MODULE
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert len(str(folder / "twin.sock")) > 107 and stat.S_ISSOCK((folder / "twin.sock").stat().st_mode)
        report = smoke.serve_once(smoke.SimulatorTwinClient(f"unix:///proc/self/fd/{fd}/twin.sock"))
        assert report is not None and report["runId"] == "run-10"
        assert verdict_from_reported("run-10", sim.twin(SMOKE_MODULE)["reported"]) is not None
    finally:
        os.close(fd)
        sim.close()


def test_the_local_smoke_image_is_built_from_the_repositorys_smoke_module_folder():
    """The folder the local adapter builds the smoke image from exists and holds its Dockerfile (a wrong
    path only shows when an edge deployment builds it)."""
    from factory.adapters.local.smoke_image import SMOKE_MODULE_DIR

    assert Path(__file__).resolve().parents[2] / "edge" / "smoke_module" == SMOKE_MODULE_DIR
    assert (SMOKE_MODULE_DIR / "Dockerfile").is_file()


def test_the_card_shows_the_requests_the_device_scored_not_the_cases(monkeypatch):
    """Each case is scored ``repeat`` times: 2 cases x 4 = 8 requests, read from what the module reports, through
    the verdict and the per-device rows, to the card's "requests checked"."""
    from contract import EdgeDevice, Lineage, combine_verdicts
    from factory.card import build_card

    monkeypatch.setattr(test_model, "OFFSET", 0.0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), test_model.Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        report = smoke.run_smoke(desired_for(f"http://127.0.0.1:{server.server_address[1]}"))
    finally:
        server.shutdown()
    verdict = verdict_from_reported("run-7", report)
    assert verdict is not None and (verdict.cases, verdict.requests) == (2, 8)
    combined = combine_verdicts("run-7", [EdgeDevice("edge-amd64", "amd64")], [verdict])
    [row] = build_card("run-7", Lineage(edge=combined)).edge
    assert (row.device, row.arch, row.requests) == ("edge-amd64", "amd64", 8)


def test_a_relative_tolerance_is_accepted_end_to_end(monkeypatch, tmp_path):
    """``"tolerance": {"abs": 0, "rel": 0.05}`` in a model's expected response: the image's scoring check and the
    smoke module on the device both accept an answer 1.75-4 % off, with the same comparison, and refuse it
    without the relative part."""
    import json

    from factory.edge.manifest import load_model_cases
    from factory.packaging.context import scoring_check
    from model_server.check import run_check
    from model_server.compare import split_expected

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "sample-request.json").write_text(json.dumps({"data": [[1, 2], [3, 4]]}))
    (tmp_path / "model" / "expected-response.json").write_text(json.dumps(
        {"predictions": [6.0, 14.0], "tolerance": {"abs": 0, "rel": 0.05}}))
    check = scoring_check(tmp_path)
    assert (check.tolerance, check.rel_tolerance) == (0.0, 0.05)
    assert split_expected(check.expected_document)[1:] == (0.0, 0.05)  # what the ACR Task's check reads back
    [case] = load_model_cases(tmp_path)
    assert (case.abs_tol, case.rel_tol) == (0.0, 0.05)
    monkeypatch.setattr(test_model, "OFFSET", 0.25)  # 6.25 and 14.25: 4.2 % and 1.8 % off
    server = ThreadingHTTPServer(("127.0.0.1", 0), test_model.Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        passed, report = run_check(url, check.request, check.expected, check.tolerance, check.path,
                                   rel_tolerance=check.rel_tolerance)
        strict = run_check(url, check.request, check.expected, check.tolerance, check.path)
        desired = smoke_desired_properties(SmokeDeployment("run-9", "m", f"r/m@{DIGEST}", "r/s", [case], repeat=2,
                                                           ready_timeout_seconds=5))
        report_on_device = smoke.run_smoke({**desired, "modelUrl": url})
    finally:
        server.shutdown()
    assert passed, report
    assert not strict[0] and "expected 6.0 ± 0, got 6.25" in strict[1]
    assert report_on_device["status"] == "pass" and report_on_device["requests"] == 2


def test_the_smoke_module_compares_with_the_factorys_one_comparison():
    """The smoke image is built from its own folder, so it carries a copy of model_server/compare.py: the
    same bytes."""
    assert (ROOT / "edge" / "smoke_module" / "compare.py").read_bytes() == \
        (ROOT / "model_server" / "compare.py").read_bytes()
    assert smoke.compare.__module__ == "compare"


def test_a_report_sent_while_the_simulator_is_down_reaches_the_twin_once_after_its_restart(tmp_path):
    """The simulator (a real process) is SIGKILLed while the module scores its last request, so the final report
    finds no twin; after the restart the module sends that same report from its outbox (the cases are not run
    again) and the twin holds it; the next round sends nothing."""
    import json
    import signal
    import subprocess
    import sys

    from factory.adapters.local.host import free_port

    state = tmp_path / "sim"
    requests = [0]
    sim: list[subprocess.Popen[bytes]] = []
    total = len(CASES) * 4  # desired_for's repeat

    class KillingHandler(test_model.Handler):
        def do_POST(self):
            requests[0] += 1
            if requests[0] == total:  # the report is about to be sent: the device's runtime crashes now
                sim[0].send_signal(signal.SIGKILL)
                sim[0].wait()
            super().do_POST()

    server = ThreadingHTTPServer(("127.0.0.1", 0), KillingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    manifest = build_manifest(SmokeDeployment("run-12", "m", f"r/m@{DIGEST}", "r/s", CASES, repeat=4,
                                              ready_timeout_seconds=5))
    manifest["modulesContent"][SMOKE_MODULE]["properties.desired"]["modelUrl"] = url
    state.mkdir()
    (state / "deployment.json").write_text(json.dumps(manifest["modulesContent"]))  # what the simulator persisted

    def start() -> str:
        port = free_port()
        sim.insert(0, subprocess.Popen([sys.executable, "-m", "localstack.edge_simulator", "--port", str(port),
                                        "--state-dir", str(state)], cwd=ROOT,
                                       env={**os.environ, "PYTHONPATH": str(ROOT)}))
        return f"http://127.0.0.1:{port}"

    outbox = smoke.Outbox(tmp_path / "outbox.json")
    client = smoke.SimulatorTwinClient(f"unix://{state / 'modules' / SMOKE_MODULE / 'twin.sock'}")
    try:
        base = start()
        _wait_health(base)
        with pytest.raises(OSError):
            smoke.serve_once(client, outbox)  # the final report: no twin listening
        assert requests[0] == total and outbox.pending() is not None
        pending = outbox.pending()

        base = start()
        _wait_health(base)
        assert _reported(base)["status"] == "running"  # what the twin had before the crash
        sent = smoke.serve_once(client, outbox)
        assert sent == pending and requests[0] == total  # the same report, the cases not run again
        reported = _reported(base)
        assert reported["status"] == "pass" and reported["finishedAt"] == pending["finishedAt"]
        assert reported["requests"] == total
        assert smoke.serve_once(client, outbox) is None and outbox.pending() is None  # not sent twice
        assert requests[0] == total
    finally:
        for proc in sim:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
        server.shutdown()


def _wait_health(base: str, timeout: float = 60) -> None:
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def _reported(base: str) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{base}/modules/{SMOKE_MODULE}/twin", timeout=5) as resp:
        return json.loads(resp.read())["reported"]
