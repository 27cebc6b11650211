"""The edge smoke sub-orchestration under devhost (the local Functions + Durable host): the real app object,
the real Durable SDK, durable timers, real containers on the edge simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from factory.adapters.local.edge import EdgeSimulatorDeployer
from factory.adapters.local.host import free_port

from .conftest import ROOT, wait_http
from .test_edge_local import CASES, modules, previous_deployment

pytestmark = pytest.mark.slow
APP_DIR = Path(__file__).resolve().parent / "app"
DURABLE = "/runtime/webhooks/durabletask"


@pytest.fixture
def devhost(simulator, edge_images, tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{APP_DIR}", "FACTORY_BACKEND": "local",
           "FACTORY_ROOT": str(ROOT), "FACTORY_STATE_DIR": str(tmp_path / "state"),
           "FACTORY_EDGE_SIM_URL": simulator.url, "FACTORY_EDGE_SMOKE_IMAGE": edge_images.smoke}
    log = (tmp_path / "devhost.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "devhost", "--port", str(port), "--app-dir", str(APP_DIR),
                             "--app-module", "edge_app", "--state-dir", str(tmp_path / "devhost"),
                             "--subscriptions", str(tmp_path / "no-subscriptions.json")],
                            cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/admin/host/ping", timeout=60)
        yield SimpleNamespace(url=url, key=(tmp_path / "devhost" / "durabletask_extension.key").read_text())
    finally:
        proc.terminate()
        proc.wait(20)
        print((tmp_path / "devhost.log").read_text()[-3000:])


def _post(url: str, body: dict, key: str) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "x-functions-key": key})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _wait_done(status_url: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(status_url, timeout=30) as resp:
            status = json.loads(resp.read())
        if status["runtimeStatus"] not in ("Pending", "Running"):
            return status
        time.sleep(0.5)
    raise AssertionError(f"orchestration not done within {timeout} s: {status}")


@pytest.mark.parametrize("which,smoke,expected", [("good_model", "smoke", "pass"), ("wrong_model", "smoke", "fail"),
                                                  ("good_model", "silent_smoke", "timeout")])
def test_edge_smoke_as_a_sub_orchestration_under_devhost(which, smoke, expected, devhost, simulator, edge_images):
    deployer = EdgeSimulatorDeployer(simulator.url)
    previous = previous_deployment(edge_images)
    deployer.apply(previous)
    started = time.monotonic()
    payload = _post(f"{devhost.url}{DURABLE}/orchestrators/edge_smoke_parent", {
        "run_id": f"run-devhost-{which}", "model": "test_model", "image": getattr(edge_images, which),
        "smoke_image": getattr(edge_images, smoke), "cases": CASES, "poll_seconds": 1,
        "timeout_seconds": 5 if expected == "timeout" else 90}, devhost.key)
    status = _wait_done(payload["statusQueryGetUri"], 180)
    assert status["runtimeStatus"] == "Completed", status
    verdict = status["output"]
    assert verdict["status"] == expected, verdict
    if expected == "fail":
        assert any(f.startswith("two rows:") for f in verdict["failures"]), verdict
    if expected == "timeout":
        assert "within 5 s" in verdict["reason"], verdict
    assert deployer.current_content() == previous
    assert set(modules(simulator.url)) == {"previous", "smoketest"}
    print(f"\ndevhost edge smoke {expected} in {time.monotonic() - started:.1f} s: {verdict}")


def test_parallel_runs_take_turns_on_the_device_and_both_get_their_own_verdict(devhost, simulator, edge_images):
    deployer = EdgeSimulatorDeployer(simulator.url)
    previous = previous_deployment(edge_images)
    deployer.apply(previous)
    started = [_post(f"{devhost.url}{DURABLE}/orchestrators/edge_smoke_parent", {
        "run_id": f"run-parallel-{which}", "model": "test_model", "image": getattr(edge_images, which),
        "smoke_image": edge_images.smoke, "cases": CASES, "poll_seconds": 1, "timeout_seconds": 90}, devhost.key)
        for which in ("good_model", "wrong_model")]
    verdicts = [_wait_done(p["statusQueryGetUri"], 300)["output"] for p in started]
    assert [v["status"] for v in verdicts] == ["pass", "fail"], verdicts
    assert [v["run_id"] for v in verdicts] == ["run-parallel-good_model", "run-parallel-wrong_model"]
    assert deployer.current_content() == previous
    with urllib.request.urlopen(simulator.url + "/lease", timeout=10) as resp:
        assert json.loads(resp.read()) == {}
