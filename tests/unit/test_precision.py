"""The precision an ONNX model was kept in travels from its registered version (the ``fp16`` metric its evaluate
stage writes) through the gate's verdict into the lineage, and the model card shows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract import ArtifactFormat, GateRequest, Lineage, Precision
from factory.approval import ApprovalClaim
from factory.backends import Services
from factory.card import build_card
from factory.settings import Settings
from factory.steps import RunSteps, kept_precision
from function_app import pages
from modelkit.stages.register import version_tags

ROOT = Path(__file__).resolve().parents[2]
# what each model's evaluate stage registers (modelkit.stages.onnx_artifact.choose: fp16 1 = kept)
REGISTERED = {"digits": {"accuracy": 0.97, "f1_macro": 0.96, "accuracy_fp32": 0.97, "accuracy_fp16": 0.97,
                         "fp16": 1.0},
              "shapes_detector": {"map_50": 0.967, "map_50_fp32": 0.967, "map_50_fp16": 0.967, "fp16": 1.0}}


def _register(state: Path, model: str, metrics: dict[str, float]) -> str:
    """A version of ``model`` in the local MLflow registry, tagged as the register stage tags it."""
    from mlflow import MlflowClient

    from factory.adapters.local.mlflow_registry import default_tracking_uri, ensure_experiment

    uri = default_tracking_uri(state)
    ensure_experiment(uri, state, model)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(model)
    tags = version_tags(f"{model}-run-1", metrics, "classification")
    return str(client.create_model_version(model, source=str(state), tags=tags).version)


@pytest.fixture(scope="module")
def registered(tmp_path_factory) -> tuple[RunSteps, dict[str, str]]:
    """One local MLflow store holding a version of each ONNX model; the run's steps over it."""
    state = tmp_path_factory.mktemp("state")
    versions = {model: _register(state, model, metrics) for model, metrics in REGISTERED.items()}
    return RunSteps(Services(Settings.from_env({"FACTORY_MODELS_DIR": str(ROOT / "models"),
                                                "FACTORY_STATE_DIR": str(state)}))), versions


@pytest.mark.parametrize("model", sorted(REGISTERED))
def test_the_card_shows_the_fp16_precision_the_onnx_models_keep(registered, model):
    steps, versions = registered
    version = versions[model]
    verdict = steps.evaluate_gate(GateRequest(model=model, version=version))
    assert verdict.precision is Precision.FP16
    lineage = Lineage(model=model, model_version=version, metrics=verdict.metrics, precision=verdict.precision)
    card = build_card("r", Lineage.from_dict(lineage.to_dict()))  # as the status API hands it back
    assert card.precision == "fp16"
    page = pages.confirm(ApprovalClaim("r", "approve", version, "sha256:x", 0), "", card).get_body().decode()
    assert "<p>Precision: fp16</p>" in page


def test_precision_is_fp32_when_fp16_was_not_kept_and_not_measured_for_other_formats():
    assert kept_precision({"accuracy": 0.9, "fp16": 0.0}, ArtifactFormat.ONNX) is Precision.FP32
    assert kept_precision({"accuracy": 0.9}, ArtifactFormat.ONNX) is None
    assert kept_precision({"precision": 0.8, "fp16": 1.0}, ArtifactFormat.JOBLIB) is None
    card = build_card("r", Lineage(model="nyc_taxi", model_version="1"))
    page = pages.confirm(ApprovalClaim("r", "approve", "1", "sha256:x", 0), "", card).get_body().decode()
    assert "Precision: <span class='na'>not measured</span>" in page
