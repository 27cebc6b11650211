"""An image model in kit style, as ``new --kind images`` scaffolds it, trains through its pipeline on the local
runner in the kit's onnx environment, passes its gate, and its image (the kit's Dockerfile template, the onnx
environment's dependency set and score.py) builds and verifies on amd64 and arm64 (slow: torch, podman, qemu).

The repository's own image models (digits, shapes_detector) take the same path in the end-to-end run
(tests/e2e), each built, verified, smoke-tested and promoted; their stages have fast tests of their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.commands.check import check_folder
from cli.commands.new import scaffold
from factory import ports
from factory.adapters.local.pipeline_runner import run_pipeline
from factory.adapters.local.podman import PodmanImageBuilder
from factory.catalog import load_model_spec
from factory.gate import evaluate
from factory.kit import place_kit_beside
from factory.packaging.context import assemble, model_labels, scoring_check
from factory.ports import TrainingRequest
from tests.packaging.helpers import REPO

pytestmark = pytest.mark.slow


def test_an_image_model_trains_passes_its_gate_builds_and_verifies(registries, tmp_path):
    _, dev, _ = registries
    place_kit_beside(tmp_path / "models")
    folder = scaffold(tmp_path / "models", "fresh_images", "images", "classification")
    assert check_folder(folder) == []
    spec = load_model_spec(folder)
    result = run_pipeline(spec, TrainingRequest(model=spec.name, run_id="r1", data_uri=str(spec.data.sample)),
                          tmp_path / "run", tmp_path / "state")
    verdict = evaluate(result.metrics, spec.gate)
    assert verdict.passed, verdict.reasons
    chosen = tmp_path / "run" / "steps" / "evaluate" / "chosen"
    card = json.loads((chosen / "model.json").read_text())
    assert card["precision"] == ("fp16" if result.metrics["fp16"] == 1.0 else "fp32")
    kit = REPO / "modelkit"
    snap = tmp_path / "run" / "snapshots"
    assert (snap / "register" / "register.py").read_bytes() == (kit / "stages" / "register.py").read_bytes()
    context = assemble(folder, chosen, tmp_path / "ctx", model_labels(spec.name, result.registered.version, "r1"))
    assert (Path(context.path) / "Dockerfile").read_bytes() == (kit / "serving" / "Dockerfile").read_bytes()
    assert (Path(context.path) / "score.py").read_bytes() == (kit / "environments" / "onnx" / "score.py").read_bytes()
    ref = ports.ImageRef(dev.registry.address, spec.image.repository, "1")
    # both architectures: the only test that verifies the ONNX base's arm64 image under emulation
    built = PodmanImageBuilder(arches=("amd64", "arm64")).build_verify_push(context, ref, scoring_check(folder))
    assert built.digest.startswith("sha256:") and "HEALTHCHECK passed" in built.log_tail
