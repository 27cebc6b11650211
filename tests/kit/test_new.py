"""``model-factory new``: a scaffolded folder checks clean, trains through its pipeline and passes its gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.commands.check import check_folder
from cli.commands.new import TASKS, ScaffoldError, scaffold
from cli.main import main
from factory.adapters.local.pipeline_runner import run_pipeline
from factory.catalog import load_model_spec
from factory.gate import evaluate
from factory.kit import place_kit_beside
from factory.ports import TrainingRequest
from tests.kit.test_duplicates import duplicate_blocks

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def models(tmp_path: Path) -> Path:
    place_kit_beside(tmp_path / "models")
    return tmp_path / "models"


@pytest.mark.parametrize("task", TASKS)
def test_a_scaffolded_table_model_checks_clean(models, task):
    folder = scaffold(models, f"demo_{task}", "table", task)
    assert check_folder(folder) == []
    assert load_model_spec(folder).task == task


def test_a_scaffolded_images_model_checks_clean_and_reads_its_sample(models):
    folder = scaffold(models, "demo_images", "images", "classification")
    assert check_folder(folder) == []
    spec = load_model_spec(folder)
    assert spec.data.kind == "images" and spec.artifact.format == "onnx" and spec.environment == "onnx"
    assert not (folder / "mlops" / "pipeline.py").exists()  # the kit's standard wiring (onnx: fp16 choice)
    from factory.image_validation import validate_image_archive

    assert validate_image_archive(spec.data.sample, spec, "incoming/demo_images/sample.zip", models / "work") == []


def test_scaffolded_models_share_no_block_of_20_lines(models):
    for task in TASKS:
        scaffold(models, f"demo_{task}", "table", task)
    scaffold(models, "demo_images", "images", "classification")
    (models / "digits").symlink_to(REPO / "models" / "digits")  # nor with the image model of the repository
    assert duplicate_blocks(models) == []


def test_a_scaffolded_model_trains_registers_and_passes_its_gate(models, tmp_path):
    folder = scaffold(models, "demo_classes", "table", "classification")
    spec = load_model_spec(folder)
    request = TrainingRequest(model=spec.name, run_id="new-1", data_uri=str(spec.data.sample))
    result = run_pipeline(spec, request, tmp_path / "run", tmp_path / "state")
    assert result.registered.version == "1"
    verdict = evaluate(result.metrics, spec.gate)
    assert verdict.passed, verdict.reasons


def test_new_refuses_what_it_cannot_scaffold(models, capsys):
    scaffold(models, "taken", "table", "regression")
    with pytest.raises(ScaffoldError, match="already exists"):
        scaffold(models, "taken", "table", "regression")
    with pytest.raises(ScaffoldError, match="expected lower-case"):
        scaffold(models, "Bad-Name", "table", "regression")
    with pytest.raises(ScaffoldError, match="--task 'forecast': expected one of regression, classification, anomaly"):
        scaffold(models, "fine_name", "table", "forecast")
    with pytest.raises(ScaffoldError, match="--task 'regression': expected one of classification for --kind images"):
        scaffold(models, "fine_name", "images", "regression")
    with pytest.raises(ScaffoldError, match="--kind 'audio': the kit has templates for"):
        scaffold(models, "fine_name", "audio", "regression")
    assert main(["new", "demo_cli", "--task", "anomaly", "--models-dir", str(models)]) == 0
    assert "demo_cli: scaffolded" in capsys.readouterr().out and (models / "demo_cli" / "model.yaml").is_file()
