"""A real model image (trained on its sample data, built and verified by the factory's podman builder, pushed
by digest) passes the edge smoke test on the simulated device with its own sample request and expected response."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factory.adapters.local.edge import EdgeSimulatorDeployer
from factory.adapters.local.registry import skopeo_manifest
from factory.edge.service import EdgeSmokeService
from factory.packaging.layers import read_image
from factory.settings import Settings
from orchestrations.edge_smoke import edge_smoke

from .activities import edge_activities
from .replay import run_orchestrator

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_real_model_image_passes_edge_smoke_with_its_sample_request(wine_image, simulator):
    model, image = "wine_cultivar", wine_image
    deployer = EdgeSimulatorDeployer(simulator.url)
    service = EdgeSmokeService(deployer, Settings.from_env({"FACTORY_MODELS_DIR": str(ROOT / "models")}))
    acts = edge_activities(service)
    # no cases: the model folder's sample request is used; no smoke image: the local one is built from edge/
    request = {"run_id": "run-edge-wine_cultivar", "model": model, "image": image, "poll_seconds": 1,
               "timeout_seconds": 120}
    verdict = run_orchestrator(edge_smoke, request, acts, real_time=True).output
    assert verdict["status"] == "pass", verdict
    assert verdict["cases"] == 1 and verdict["p50_ms"] > 0
    assert deployer.current_content() == {}  # the device had nothing before: nothing after
    print(f"\n{model} on the simulated edge device: p50 {verdict['p50_ms']} ms, p95 {verdict['p95_ms']} ms")


def test_arm64_device_deploys_the_arm64_variant_and_reports_pass(wine_image, arm64_simulator, registry):
    # needs the arm64 base (`make bases`, which `make test-slow` runs first: about a minute, no emulation);
    # with it, about 3 to 6 min on a loaded 2-core machine
    model, image = "wine_cultivar", wine_image
    index = read_image(image, skopeo_manifest)

    deployer = EdgeSimulatorDeployer(arm64_simulator.url, registry=registry)  # the smoke module as an index too
    service = EdgeSmokeService(deployer, Settings.from_env({"FACTORY_MODELS_DIR": str(ROOT / "models")}))
    smoke = read_image(deployer.smoke_image(), skopeo_manifest)
    assert sorted(smoke) == ["amd64", "arm64"]
    request = {"run_id": "run-edge-arm64", "model": model, "image": image, "poll_seconds": 2,
               "timeout_seconds": 600, "ready_timeout_seconds": 480, "device": "sim-arm64", "arch": "arm64"}
    verdict = run_orchestrator(edge_smoke, request, edge_activities(service), real_time=True).output
    assert verdict["status"] == "pass", json.dumps(verdict)  # whole: the reason says which step failed
    held = set(json.loads((arm64_simulator.state_dir / "layers.json").read_text()))
    arm64_deps, amd64_deps = (index[arch].layers[-4].digest for arch in ("arm64", "amd64"))
    assert arm64_deps in held and amd64_deps not in held  # the device pulled the arm64 image, not the amd64 one
    # ... and the arm64 smoke module: every layer of its arm64 image, not the amd64 base
    assert {layer.digest for layer in smoke["arm64"].layers} <= held
    assert smoke["amd64"].layers[0].digest not in held
    assert verdict["bytes_pulled"] == index["arm64"].total + smoke["arm64"].total - sum(  # shared base counted once
        layer.size for layer in smoke["arm64"].layers if layer.digest in {x.digest for x in index["arm64"].layers})
