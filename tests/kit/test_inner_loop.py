"""The data scientist's inner loop on the laptop (docs/adding-a-model.md): every mistake that used to show only
at a factory run's gate or inside an image build is caught by ``check``, ``train`` or ``try``, naming the
file and the field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cli.commands.check import check_folder
from cli.commands.new import scaffold
from cli.main import main
from factory.kit import place_kit_beside

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    place_kit_beside(tmp_path / "models")
    monkeypatch.setenv("FACTORY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FACTORY_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path / "models"


def edit_yaml(folder: Path, change) -> None:
    file = folder / "model.yaml"
    raw = yaml.safe_load(file.read_text())
    change(raw)
    file.write_text(yaml.safe_dump(raw, sort_keys=False))


def messages(folder: Path) -> list[str]:
    return [str(p) for p in check_folder(folder)]


def test_check_names_a_gated_metric_the_evaluate_step_does_not_write(models):
    folder = scaffold(models, "screening", "table", "classification")
    edit_yaml(folder, lambda m: m["gate"]["metrics"].update(recall_1={"direction": "maximize", "min": 0.9}))
    found = messages(folder)
    assert len(found) == 1
    assert found[0].startswith(f"{folder / 'model.yaml'}: gate.metrics.recall_1: the evaluate step does not write it")
    assert "evaluate.metrics declares accuracy, f1_macro" in found[0]
    edit_yaml(folder, lambda m: m.pop("evaluate"))
    assert any(f"{folder / 'model.yaml'}: evaluate.metrics: not declared" in m for m in messages(folder))


def test_check_compares_the_sample_request_with_the_declared_inputs(models):
    folder = scaffold(models, "pumps", "table", "regression")
    edit_yaml(folder, lambda m: m["serving"].update(inputs={"x1": "number", "x2": "number", "flow": "number"}))
    request = folder / "model" / "sample-request.json"
    found = messages(folder)
    assert f"{request}: data[0]: missing feature(s) flow (serving.inputs in model.yaml)" in found
    assert any(m.startswith(f"{request}: data[0]: unknown feature(s) x3, x4; serving.inputs in model.yaml declares "
                            "x1, x2, flow") for m in found)
    rows = {"data": [[1.0, 2.0], [1.0, "high", 3.0]]}  # a short row; a string where a number is declared
    request.write_text(json.dumps(rows))
    (folder / "model" / "expected-response.json").write_text(json.dumps({"predictions": [1.0, 2.0]}))
    found = messages(folder)
    assert f"{request}: data[0]: expected 3 values (x1, x2, flow; serving.inputs in model.yaml), got 2" in found
    assert f"{request}: data[1].x2: expected number (serving.inputs), got 'high'" in found
    assert len(found) == 2


def test_check_compares_the_expected_response_with_the_task_and_the_rows(models):
    folder = scaffold(models, "fares", "table", "regression")
    expected = folder / "model" / "expected-response.json"
    expected.write_text(json.dumps({"predictions": [3.0, "cheap"], "tolerance": 0.5}))
    found = messages(folder)
    assert f"{expected}: predictions: expected one prediction per request row (3), got 2" in found
    assert f"{expected}: predictions[1]: expected a number (regression), got 'cheap'" in found
    classes = scaffold(models, "screening", "table", "classification")
    edit_yaml(classes, lambda m: m["serving"].update(probabilities=True))
    found = messages(classes)  # the scaffold's bare labels, while the model now answers probabilities
    assert len(found) == 3 and all("expected {\"label\": ..., \"probabilities\": {...}} (serving.probabilities: "
                                   "true), got 0" in m or "got 1" in m or "got 2" in m for m in found)


def test_a_broken_model_yaml_is_not_loaded_with_its_reason_not_unknown(models, capsys):
    folder = scaffold(models, "broken", "table", "regression")
    edit_yaml(folder, lambda m: m["gate"]["metrics"]["rmse"].pop("direction"))
    for command in (["train", "broken"], ["versions", "broken"], ["try", "broken"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert f"model 'broken' not loaded: {folder / 'model.yaml'}: field gate.metrics.rmse.direction" in err
        assert "unknown model" not in err
    assert main(["train", "nothing_here"]) == 2
    assert "unknown model 'nothing_here'" in capsys.readouterr().err


def test_the_scaffold_test_reads_the_sample_the_folder_declares(models):
    folder = scaffold(models, "moved", "table", "regression")
    (folder / "data" / "sample.csv").rename(folder / "data" / "readings.csv")
    edit_yaml(folder, lambda m: m["data"].update(sample="data/readings.csv"))
    assert check_folder(folder) == []
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "tests")],
                          cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 passed" in done.stdout


def test_the_guides_inner_loop_new_edit_check_train_versions_try(models, tmp_path, capsys):
    """docs/adding-a-model.md's steps for a new classifier: new, edit, check, train (with the gate), versions,
    try; then a gate that fails (a threshold above what it achieves, a gated metric evaluate does not write)."""
    assert main(["new", "screening", "--task", "classification", "--models-dir", str(models)]) == 0
    assert "next: model-factory check screening" in capsys.readouterr().out
    folder = models / "screening"
    # edit: the real data's file, a stricter gate on a metric evaluate writes, per-label probabilities
    (folder / "data" / "sample.csv").rename(folder / "data" / "screening.csv")
    edit_yaml(folder, lambda m: (m["data"].update(sample="data/screening.csv"),
                                 m["gate"]["metrics"]["accuracy"].update(min=0.85),
                                 m["serving"].update(probabilities=True)))
    assert main(["check", "screening", "--models-dir", str(models)]) == 1  # the expected response: bare labels
    assert "expected-response.json: predictions[0]: expected {\"label\": ..., \"probabilities\"" in \
        capsys.readouterr().out
    expected = folder / "model" / "expected-response.json"
    expected.write_text(json.dumps({"predictions": [{"label": 0, "probabilities": {"0": 0.97}}, {"label": 1},
                                                    {"label": 2, "probabilities": {"2": 0.97}}], "tolerance": 0.05}))
    assert main(["check", "screening", "--models-dir", str(models)]) == 0
    assert capsys.readouterr().out == "screening: ok\n"

    assert main(["train", "screening"]) == 0
    out = capsys.readouterr().out
    assert "screening: registered version 1" in out and "gate: PASSED (against no production version)" in out
    artifact = Path(out.split("  artifact: ", 1)[1].splitlines()[0])
    assert (artifact / "model.json").is_file() and (artifact / "model.joblib").is_file()
    assert ("in experiment screening; to browse it: `model-factory up` (its MLflow UI) or mlflow ui "
            f"--backend-store-uri sqlite:///{tmp_path}/state") in out  # no stack here: no UI to link to
    assert [line.split()[-1] for line in out.splitlines() if line.startswith(("accuracy", "f1_macro"))] == \
        ["pass", "pass"]

    assert main(["versions", "screening"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert len(rows) == 1 and rows[0].split()[0] == "1" and rows[0].endswith(str(artifact))

    assert main(["try", "screening"]) == 0
    out = capsys.readouterr().out
    answer = json.loads(out.split("answered 200: ", 1)[1].splitlines()[0])["predictions"]
    assert [p["label"] for p in answer] == [0, 1, 2]
    assert all(set(p["probabilities"]) == {"0", "1", "2"} and abs(sum(p["probabilities"].values()) - 1) < 1e-4
               for p in answer)
    assert "the image's verification would pass" in out
    expected.write_text(json.dumps({"predictions": [{"label": 0}, {"label": 1}, {"label": 1}], "tolerance": 0}))
    assert main(["try", "screening", "--version", "1"]) == 1
    assert "response.predictions[2].label: expected 1 ± 0, got 2" in capsys.readouterr().err
    request = tmp_path / "one.json"
    request.write_text(json.dumps({"data": [{"x1": 3, "x2": 3, "x3": 0, "x4": 0}]}))
    assert main(["try", "screening", "--request", str(request)]) == 0
    assert 'answered 200: {"predictions":[{"label":2,"probabilities":{"0":' in capsys.readouterr().out

    # production is version 1; version 2's gate asks more than the model gives and a metric evaluate never writes
    from factory.adapters.local.mlflow_registry import MlflowModelRegistry, default_tracking_uri

    MlflowModelRegistry(default_tracking_uri(tmp_path / "state")).mark_production("screening", "1")
    edit_yaml(folder, lambda m: (m["gate"]["metrics"]["accuracy"].update(min=0.999),
                                 m["gate"]["metrics"].update(recall_2={"direction": "maximize", "min": 0.5}),
                                 m["evaluate"].update(metrics=["accuracy", "f1_macro", "recall_2"])))
    assert main(["train", "screening"]) == 1
    captured = capsys.readouterr()
    assert "screening: registered version 2" in captured.out
    assert "gate: FAILED (against production version 1)" in captured.out
    assert "is below the minimum 0.999" in captured.out
    assert "metric recall_2 missing from the registered version" in captured.out
    assert "evaluate did not write recall_2, which model.yaml evaluate.metrics declares" in captured.err
    row = next(line for line in captured.out.splitlines() if line.startswith("recall_2"))
    assert row.split()[1:] == ["missing", ">=", "0.5", "-", "FAIL"]


def test_a_classifier_declaring_probabilities_answers_each_labels_probability(models, tmp_path):
    """The image's scoring script (modelkit/serving/score.py) with the context ``assemble`` makes for it: labels
    only by default, label beside per-label probabilities when model.yaml declares ``serving.probabilities``."""
    from factory.packaging.context import assemble, model_labels
    from model_server.server import load_scoring_script

    folder = scaffold(models, "screening", "table", "classification")
    done = {n: tmp_path / n for n in ("p", "f", "m")}
    for program, *args in (("prep", "--data", folder / "data" / "sample.csv", "--prepared", done["p"]),
                           ("transform", "--prepared", done["p"], "--features", done["f"]),
                           ("train", "--features", done["f"], "--model_name", "screening", "--model", done["m"])):
        from factory.kit import run_stage

        assert run_stage(folder, program, *args).returncode == 0
    request = (folder / "model" / "sample-request.json").read_text()
    answers = []
    for declared in (False, True):
        edit_yaml(folder, lambda m, d=declared: m["serving"].update(probabilities=d))
        app = assemble(folder, done["m"], tmp_path / f"app-{declared}", model_labels("screening", "1"))
        assert (Path(app.path) / "model" / "serving.json").is_file() is declared
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AZUREML_MODEL_DIR", str(Path(app.path) / "model"))
            score = load_scoring_script(Path(app.path) / "score.py")
            score.init()
            answers.append(score.run(request)["predictions"])
    assert answers[0] == [0, 1, 2]
    assert [p["label"] for p in answers[1]] == [0, 1, 2]
    for p in answers[1]:
        assert set(p["probabilities"]) == {"0", "1", "2"} and abs(sum(p["probabilities"].values()) - 1) < 1e-4
        assert max(p["probabilities"], key=p["probabilities"].get) == str(p["label"])


def test_help_describes_the_factory_and_the_inner_loop(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "``" not in out and "factory.commands" not in out and "cli.commands" not in out  # no raw docstring fragment
    assert out.splitlines()[2].startswith("Model Factory: turns the models in models/<name>/ into verified")
    for step in ("new NAME", "check NAME", "train NAME", "versions NAME", "try NAME"):
        assert f"model-factory {step}" in out
