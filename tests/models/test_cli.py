"""``model-factory models`` and ``model-factory train``."""

from __future__ import annotations

from models_testlib import ALL_MODEL_NAMES, MODELS, copy_model

from cli.main import main


def test_models_lists_the_catalog_with_task_metric_and_gate(capsys, tmp_path):
    assert main(["models", "--models-dir", str(MODELS)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:6] == ["model", "task", "data", "artifact", "metric", "gate"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == set(ALL_MODEL_NAMES)
    assert rows["digits"].split()[1:4] == ["classification", "images", "onnx"]
    assert rows["nyc_taxi"].split()[1:4] == ["regression", "table", "joblib"]
    assert "regression" in rows["nyc_taxi"] and "rmse ↓" in rows["nyc_taxi"] and "rmse<=6" in rows["nyc_taxi"]
    assert "f1_macro ↑" in rows["wine_cultivar"] and "≤3% worse than prod" in rows["wine_cultivar"]
    copy_model("vibration_anomaly", "pump_vibration", tmp_path)
    assert main(["models", "--models-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[2].startswith("pump_vibration  anomaly")


def test_train_runs_the_pipeline_with_progress_and_prints_the_version(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORY_STATE_DIR", str(tmp_path / "state"))
    assert main(["train", "wine_cultivar", "--run-id", "cli-1", "--models-dir", str(MODELS)]) == 0
    out = capsys.readouterr().out
    for stage in ("verify_data", "prep", "transform", "train", "evaluate", "score", "register"):
        assert f"  {stage:<11} ... completed in " in out
    assert "wine_cultivar: registered version 1 in " in out and "accuracy=" in out
    assert (tmp_path / "state" / "training" / "wine_cultivar-cli-1" / "logs" / "register.log").is_file()


def test_train_refuses_an_unknown_model(capsys):
    assert main(["train", "nope", "--models-dir", str(MODELS)]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
