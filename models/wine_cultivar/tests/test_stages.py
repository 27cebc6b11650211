"""wine_cultivar's stage programs on small data, run as the pipeline runs them: a subprocess per stage in src/."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from factory.kit import run_stage

MODEL = Path(__file__).resolve().parents[1]


def stage(program: str, *args: object, env: dict[str, str] | None = None) -> str:
    """Run a stage program as its pipeline step does (src/ plus the kit files it does not override)."""
    done = run_stage(MODEL, program, *args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wine")
    sample = pd.read_csv(MODEL / "data" / "wine.csv")
    small = sample.groupby("cultivar").head(30).copy()  # 90 wines, 30 per cultivar
    small.loc[small.index[0], "alcohol"] = None  # an incomplete row prep must drop
    small.to_csv(out / "upload.csv", index=False)
    stage("prep", "--data", out / "upload.csv", "--prepared", out / "prepared")
    stage("transform", "--prepared", out / "prepared", "--features", out / "features")
    stage("train", "--features", out / "features", "--model_name", "wine_cultivar", "--model", out / "model")
    stage("evaluate", "--model", out / "model", "--features", out / "features", "--metrics", out / "metrics")
    stage("score", "--model", out / "model", "--features", out / "features", "--scores", out / "scores")
    return out


def test_prep_drops_incomplete_rows(outputs):
    prepared = pd.read_csv(outputs / "prepared" / "prepared.csv")
    assert len(prepared) == 89 and prepared.notna().all().all()


def test_transform_split_is_stratified(outputs):
    test = pd.read_csv(outputs / "features" / "test.csv")
    assert sorted(test["cultivar"].value_counts()) in ([7, 8, 8], [7, 7, 8], [8, 8, 8])


def test_train_writes_the_serving_contract(outputs):
    card = json.loads((outputs / "model" / "model.json").read_text())
    assert card["task"] == "classification" and card["classes"] == [0, 1, 2] and len(card["features"]) == 13
    rows = pd.read_csv(outputs / "features" / "test.csv")[card["features"]].to_numpy(dtype=float)
    assert set(joblib.load(outputs / "model" / "model.joblib").predict(rows)) <= {0, 1, 2}


def test_evaluate_and_score(outputs):
    metrics = json.loads((outputs / "metrics" / "metrics.json").read_text())
    assert set(metrics) == {"accuracy", "f1_macro"} and metrics["accuracy"] >= 0.85
    predictions = pd.read_csv(outputs / "scores" / "predictions.csv")
    assert np.isin(predictions["prediction"], [0, 1, 2]).all()


def test_register_is_idempotent_per_run_id(outputs, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    args = ["--model", outputs / "model", "--metrics", outputs / "metrics", "--scores", outputs / "scores",
            "--model_name", "wine_cultivar", "--run_id", "r1"]
    stage("register", *args, "--registration", tmp_path / "a", env=env)
    stage("register", *args, "--registration", tmp_path / "b", env=env)
    second = json.loads((tmp_path / "b" / "registered.json").read_text())
    assert second["version"] == "1" and second["reused"] is True and "accuracy" in second["tags"]
