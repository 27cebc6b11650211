"""vibration_anomaly's generator and stage programs on small data, run as the pipeline runs them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import joblib
import pandas as pd
import pytest

from factory.kit import run_stage

MODEL = Path(__file__).resolve().parents[1]


def stage(program: str, *args: object, env: dict[str, str] | None = None) -> str:
    """Run a stage program as its pipeline step does (src/ plus the kit files it does not override)."""
    done = run_stage(MODEL, program, *args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _generator():
    spec = importlib.util.spec_from_file_location("vibration_generate", MODEL / "data" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generator_is_seeded_and_made_the_committed_sample(tmp_path):
    generator = _generator()
    assert generator.generate(50, seed=3) == generator.generate(50, seed=3) != generator.generate(50, seed=4)
    regenerated = generator.write(tmp_path / "readings.csv", rows=3000, seed=7)
    assert regenerated.read_bytes() == (MODEL / "data" / "readings.csv").read_bytes()


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vibration")
    _generator().write(out / "upload.csv", rows=1200, seed=11)
    stage("prep", "--data", out / "upload.csv", "--prepared", out / "prepared")
    stage("transform", "--prepared", out / "prepared", "--features", out / "features")
    stage("train", "--features", out / "features", "--model_name", "vibration_anomaly", "--model", out / "model")
    stage("evaluate", "--model", out / "model", "--features", out / "features", "--metrics", out / "metrics")
    stage("score", "--model", out / "model", "--features", out / "features", "--scores", out / "scores")
    return out


def test_transform_splits_in_time(outputs):
    train = pd.read_csv(outputs / "features" / "train.csv")
    test = pd.read_csv(outputs / "features" / "test.csv")
    assert (len(train), len(test)) == (840, 360) and list(train.columns)[-1] == "anomaly"


def test_train_writes_the_serving_contract(outputs):
    card = json.loads((outputs / "model" / "model.json").read_text())
    assert card["task"] == "anomaly" and card["predict"] == {"anomaly": -1, "normal": 1}
    assert card["features"] == ["vibration_rms", "vibration_peak", "temperature_c"]
    normal, overheated = [2.0, 6.0, 45.0], [2.0, 6.0, 80.0]
    assert list(joblib.load(outputs / "model" / "model.joblib").predict([normal, overheated])) == [1, -1]


def test_evaluate_against_the_labelled_anomalies(outputs):
    metrics = json.loads((outputs / "metrics" / "metrics.json").read_text())
    assert set(metrics) == {"precision", "recall", "f1"} and metrics["f1"] >= 0.6
    predictions = pd.read_csv(outputs / "scores" / "predictions.csv")
    assert set(predictions["prediction"]) == {-1, 1}


def test_register_is_idempotent_per_run_id(outputs, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    args = ["--model", outputs / "model", "--metrics", outputs / "metrics", "--scores", outputs / "scores",
            "--model_name", "vibration_anomaly", "--run_id", "r1", "--source_commit", "abc"]
    stage("register", *args, "--registration", tmp_path / "a", env=env)
    stage("register", *args, "--registration", tmp_path / "b", env=env)
    second = json.loads((tmp_path / "b" / "registered.json").read_text())
    assert second["version"] == "1" and second["reused"] is True and second["tags"]["source_commit"] == "abc"
