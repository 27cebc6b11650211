"""Real local deployments: the edge simulator runs the model and smoke module containers (podman) from the
manifest, the edge_smoke sub-orchestration polls on (wall-clock) durable timers, and the device's previous
deployment is back afterwards in every case."""

from __future__ import annotations

import json
import urllib.request

import pytest

from factory.adapters.local.edge import EdgeSimulatorDeployer
from factory.edge.manifest import SMOKE_MODULE, SmokeCase, SmokeDeployment, build_manifest
from factory.edge.service import EdgeSmokeService
from factory.settings import Settings
from orchestrations.edge_smoke import edge_smoke

from .activities import edge_activities
from .replay import run_orchestrator

pytestmark = pytest.mark.slow

CASES = [{"name": "two rows", "request": {"data": [[1, 2], [3, 4]]}, "expected": {"predictions": [6.0, 14.0]},
          "tolerance": 1e-6},
         {"name": "one row", "request": {"data": [[0.5, 0.25]]}, "expected": {"predictions": [1.5]}}]


def previous_deployment(images) -> dict:
    """What the device ran before the smoke test: another model ("previous") with its own smoke module twin."""
    return build_manifest(SmokeDeployment("earlier-run", "previous", images.good_model, images.silent_smoke,
                                          [SmokeCase("c", {"data": [[1]]}, {"predictions": [2.0]})]))["modulesContent"]


def modules(url: str) -> dict:
    with urllib.request.urlopen(url + "/modules", timeout=30) as resp:
        return json.loads(resp.read())


def run_smoke(simulator, images, model_image: str, smoke_image: str, timeout_seconds: int = 90) -> dict:
    deployer = EdgeSimulatorDeployer(simulator.url)
    previous = previous_deployment(images)
    deployer.apply(previous)
    service = EdgeSmokeService(deployer, Settings.from_env({}))
    acts = edge_activities(service)
    request = {"run_id": "run-local-1", "model": "test_model", "image": model_image, "smoke_image": smoke_image,
               "cases": CASES, "poll_seconds": 1, "timeout_seconds": timeout_seconds, "repeat": 5}
    result = run_orchestrator(edge_smoke, request, acts, real_time=True)
    # restored: the same modules content, the previous modules running again, the smoke test's gone
    assert deployer.current_content() == previous
    running = modules(simulator.url)
    assert set(running) == {"previous", SMOKE_MODULE}
    assert running["previous"]["runtimeStatus"] == "running"
    assert running["previous"]["image"] == images.good_model
    assert "test-model" not in running
    with urllib.request.urlopen(simulator.url + "/lease", timeout=10) as resp:
        assert json.loads(resp.read()) == {}  # released
    return result.output


def test_right_model_passes_on_the_simulated_device(simulator, edge_images):
    verdict = run_smoke(simulator, edge_images, edge_images.good_model, edge_images.smoke)
    assert verdict["status"] == "pass", verdict
    assert verdict["cases"] == 2 and verdict["failures"] == []
    assert 0 < verdict["p50_ms"] <= verdict["p95_ms"] < 5000
    print(f"\nedge smoke pass: p50 {verdict['p50_ms']} ms, p95 {verdict['p95_ms']} ms")


def test_wrong_model_fails_naming_the_failing_case(simulator, edge_images):
    verdict = run_smoke(simulator, edge_images, edge_images.wrong_model, edge_images.smoke)
    assert verdict["status"] == "fail", verdict
    assert any(f.startswith("two rows: request 1: $.predictions[0]: expected 6.0") and "got 7.0" in f
               for f in verdict["failures"]), verdict["failures"]
    assert verdict["reason"] == "2 of 2 cases failed"


def test_smoke_module_that_never_reports_times_out(simulator, edge_images):
    verdict = run_smoke(simulator, edge_images, edge_images.good_model, edge_images.silent_smoke, timeout_seconds=6)
    assert verdict["status"] == "timeout", verdict
    assert "no result for run run-local-1 within 6 s" in verdict["reason"]
    assert "smoketest" in verdict["reason"]  # names the module states it saw


def test_simulator_applies_env_and_create_options_and_cleans_up(simulator, edge_images):
    deployer = EdgeSimulatorDeployer(simulator.url)
    content = previous_deployment(edge_images)
    content["$edgeAgent"]["properties.desired"]["modules"]["previous"]["env"]["EXTRA"] = {"value": "42"}
    deployer.apply(content)
    from factory.adapters.local.containers import engine

    name = modules(simulator.url)["previous"]["container"]
    inspect = json.loads(engine().run(["inspect", name]).stdout)[0]
    assert "EXTRA=42" in inspect["Config"]["Env"] and "MODEL_NAME=previous" in inspect["Config"]["Env"]
    assert inspect["HostConfig"]["Memory"] == 1024 * 1024 * 1024
    assert inspect["Config"]["User"] == "10001:10001"  # the image's non-root user
    deployer.restore({})
    assert modules(simulator.url) == {} and deployer.current_content() == {}
