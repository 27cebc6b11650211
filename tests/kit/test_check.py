"""``model-factory check``: each kind of problem is reported with its file and field before anything runs."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from cli.commands.check import SCHEMA, check_folder, schema_problems
from cli.main import main
from factory.kit import place_kit_beside

REPO = Path(__file__).resolve().parents[2]
MODELS = sorted(p.parent.name for p in (REPO / "models").glob("*/model.yaml"))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    place_kit_beside(tmp_path / "models")
    dest = tmp_path / "models" / "wine_check"
    shutil.copytree(REPO / "models" / "wine_cultivar", dest, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    _edit_yaml(dest / "model.yaml", lambda raw: raw.update(name="wine_check"))
    return dest


def _edit_yaml(file: Path, change: Callable[[dict], None]) -> None:
    raw = yaml.safe_load(file.read_text())
    change(raw)
    file.write_text(yaml.safe_dump(raw, sort_keys=False))


def _messages(folder: Path) -> list[str]:
    return [str(p) for p in check_folder(folder)]


@pytest.mark.parametrize("name", MODELS)
def test_every_model_of_the_repository_passes(name):
    assert _messages(REPO / "models" / name) == []


def test_every_model_yaml_names_the_published_schema_and_meets_it():
    schema = json.loads(SCHEMA.read_text())
    assert schema["$schema"].endswith("2020-12/schema") and "gate" in schema["properties"]
    for name in MODELS:
        file = REPO / "models" / name / "model.yaml"
        assert "yaml-language-server: $schema=../../modelkit/schema/model.schema.json" in file.read_text()
        assert schema_problems(file, yaml.safe_load(file.read_text())) == []


def test_model_yaml_not_yaml(folder):
    (folder / "model.yaml").write_text("name: [unclosed\n")
    assert _messages(folder)[0].startswith(f"{folder / 'model.yaml'}: not valid YAML")


def test_model_yaml_against_the_schema_and_the_catalog(folder):
    _edit_yaml(folder / "model.yaml", lambda raw: (raw["gate"].pop("metric"), raw["data"].update(max_mb="big")))
    found = _messages(folder)
    assert f"{folder / 'model.yaml'}: data.max_mb: 'big' is not of type 'number'" in found[0]
    assert any(m.startswith(f"{folder / 'model.yaml'}: gate: 'metric' is a required property") for m in found)


def test_a_bad_rollout_is_named_by_the_schema_and_the_catalog(folder):
    rollout = {"fleet": "tags.site = 'a'", "rings": [{"name": "canary", "percent": 10}, {"name": "all", "percent": 5}]}
    _edit_yaml(folder / "model.yaml", lambda raw: raw.update(rollout=rollout))
    found = _messages(folder)
    expected = "model.yaml: rollout.rings[1].percent: expected an integer above the previous ring's 10"
    assert any(expected in m for m in found)
    rollout["rings"][1]["percent"] = 100
    _edit_yaml(folder / "model.yaml", lambda raw: raw.update(rollout=rollout))
    assert _messages(folder) == []


def test_a_component_that_does_not_load(folder):
    (folder / "mlops" / "components" / "train.yml").write_text("type: command\ncommand: [not, a, string\n")
    assert any(m.startswith(f"{folder / 'mlops/components/train.yml'}: does not load") for m in _messages(folder))


def test_a_missing_component_stops_the_pipeline_build(folder):
    (folder / "mlops" / "components" / "prep.yml").unlink()
    assert any("prep.yml: missing; the kit provides components for verify_data, score, register only" in m
               for m in _messages(folder))


PIPELINE_WITHOUT_LINEAGE = '''from pathlib import Path

from azure.ai.ml import Input, dsl

from factory.kit import stage_component

FOLDER = Path(__file__).resolve().parents[1]
C = {s: stage_component(FOLDER, s)
     for s in ("verify_data", "prep", "transform", "train", "evaluate", "score", "register")}


@dsl.pipeline(name="wine_check_training")
def training_pipeline(data: Input, model_name: str, run_id: str, data_uri: str = None,  # noqa: RUF013
                      data_etag: str = None, source_commit: str = None, data_sha256: str = None):  # noqa: RUF013
    verify_data = C["verify_data"](data=data, sha256=data_sha256)
    prep = C["prep"](data=verify_data.outputs.verified)
    transform = C["transform"](prepared=prep.outputs.prepared)
    train = C["train"](features=transform.outputs.features, model_name=model_name)
    evaluate = C["evaluate"](model=train.outputs.model, features=transform.outputs.features)
    score = C["score"](model=train.outputs.model, features=transform.outputs.features)
    register = C["register"](model=train.outputs.model, metrics=evaluate.outputs.metrics, scores=score.outputs.scores,
                             model_name=model_name, run_id=run_id)
    return {"model": train.outputs.model, "registration": register.outputs.registration}
'''


def test_the_register_contract_must_be_wired(folder):
    (folder / "mlops" / "pipeline.py").write_text(PIPELINE_WITHOUT_LINEAGE)
    found = _messages(folder)
    assert f"{folder / 'mlops/pipeline.py'}: outputs: the training pipeline must return an output named 'metrics'" \
        in found
    assert any(m.endswith("register.yml: inputs.source_commit: the register step must take the pipeline input "
                          "source_commit (the version's lineage tags); bind source_commit=source_commit")
               for m in found)


def test_a_curated_environment_is_named_with_the_fix(folder):
    _edit_yaml(folder / "mlops" / "components" / "train.yml",
               lambda raw: raw.update(environment="azureml:AzureML-sklearn-0.24-ubuntu18.04-py37-cpu@latest"))
    found = [m for m in _messages(folder) if "train.yml: environment:" in m]
    assert found and "curated or registered" in found[0] and "Fix:" in found[0]


def test_serving_and_training_versions_must_agree(folder):
    kit = REPO / "modelkit" / "environments" / "sklearn" / "requirements.txt"
    (folder / "model" / "requirements.txt").write_text(kit.read_text().replace("scikit-learn==1.9.1",
                                                                               "scikit-learn==1.6.1"))
    assert any(m.startswith(f"{folder / 'model'}: requirements.txt: package scikit-learn: training environment")
               for m in _messages(folder))


def test_the_environment_must_serve_the_artifact_format(folder):
    _edit_yaml(folder / "model.yaml", lambda raw: raw.update(artifact={"format": "onnx"}))
    assert any(m.startswith(f"{folder / 'model.yaml'}: environment: artifact.format onnx is served with "
                            "onnxruntime, which") and "environment: onnx" in m for m in _messages(folder))


def test_the_sample_request_and_expected_response_match_the_serving_contract(folder):
    expected = json.loads((folder / "model" / "expected-response.json").read_text())
    expected["predictions"] = expected["predictions"][:1]
    (folder / "model" / "expected-response.json").write_text(json.dumps(expected))
    assert any(m.startswith(f"{folder / 'model/expected-response.json'}: predictions: expected one prediction per "
                            "request row") for m in _messages(folder))
    (folder / "model" / "sample-request.json").unlink()
    assert any("sample-request.json: missing" in m for m in _messages(folder))


def test_a_sample_upload_that_breaks_the_data_rules(folder):
    (folder / "data" / "wine.csv").write_text("alcohol,cultivar\n13.2,1\n")
    assert any(m.startswith(f"{folder / 'data/wine.csv'}: ") and "column" in m for m in _messages(folder))


def test_the_command_reports_each_model_and_fails_on_any_problem(folder, capsys):
    shutil.copytree(REPO / "models" / "vibration_anomaly", folder.parent / "vibration_anomaly",
                    ignore=shutil.ignore_patterns("__pycache__", "tests"))
    (folder / "model.yaml").write_text("name: [unclosed\n")
    assert main(["check", "--models-dir", str(folder.parent)]) == 1
    out = capsys.readouterr().out
    assert "vibration_anomaly: ok" in out and "wine_check: 1 problem(s)" in out
    assert main(["check", "vibration_anomaly", "--models-dir", str(folder.parent)]) == 0


def test_a_pipeline_that_does_not_take_the_data_hash_is_refused(folder):
    """Every pipeline verifies the validated data's sha256 first (the kit's verify_data): one that cannot be
    given the hash would train whatever bytes sit at the data's path on Azure ML."""
    (folder / "mlops" / "pipeline.py").write_text(
        PIPELINE_WITHOUT_LINEAGE.replace(", data_sha256: str = None", "")
        .replace('    verify_data = C["verify_data"](data=data, sha256=data_sha256)\n', "")
        .replace("data=verify_data.outputs.verified", "data=data"))
    assert any(m.endswith(f"{folder / 'mlops/pipeline.py'}: training_pipeline takes no data_sha256; every pipeline "
                          "starts with the kit's verify_data stage on it (the hash of the validated data), as "
                          "modelkit/pipeline.py does") for m in _messages(folder))


def test_a_step_reading_the_data_around_the_verification_is_refused(folder):
    (folder / "mlops" / "pipeline.py").write_text(
        PIPELINE_WITHOUT_LINEAGE.replace("data=verify_data.outputs.verified", "data=data"))
    assert f"{folder / 'mlops/pipeline.py'}: data: only the kit's verify_data step may read the pipeline's data " \
        "(data=data, sha256=data_sha256); the other steps read its verified output" in _messages(folder)
