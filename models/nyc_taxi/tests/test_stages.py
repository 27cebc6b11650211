"""nyc_taxi's stage programs on small data, run as the pipeline runs them: a subprocess per stage in src/."""

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
    out = tmp_path_factory.mktemp("nyc_taxi")
    upload = out / "upload"
    upload.mkdir()
    for feed in ("greenTaxiData.csv", "yellowTaxiData.csv"):  # a small upload holding both feeds
        pd.read_csv(MODEL / "data" / feed, nrows=800).to_csv(upload / feed, index=False)
    stage("prep", "--data", upload, "--prepared", out / "prepared")
    stage("transform", "--prepared", out / "prepared", "--features", out / "features")
    stage("train", "--features", out / "features", "--model_name", "nyc_taxi", "--model", out / "model")
    stage("evaluate", "--model", out / "model", "--features", out / "features", "--metrics", out / "metrics")
    stage("score", "--model", out / "model", "--features", out / "features", "--scores", out / "scores")
    return out


def test_prep_reconciles_the_green_and_yellow_column_names(outputs):
    prepared = pd.read_csv(outputs / "prepared" / "prepared.csv")
    assert set(prepared["cab"]) == {"green", "yellow"}
    assert "pickupDatetime" in prepared
    assert "lpepPickupDatetime" not in prepared and "tpepPickupDateTime" not in prepared
    yellow = prepared[prepared["cab"] == "yellow"]
    assert yellow["pickupLongitude"].notna().mean() > 0.9  # startLon became pickupLongitude
    assert prepared["fareAmount"].between(2.5, 250).all() and 1000 < len(prepared) <= 1600


def test_transform_writes_numeric_features_and_a_seeded_split(outputs):
    train = pd.read_csv(outputs / "features" / "train.csv")
    test = pd.read_csv(outputs / "features" / "test.csv")
    assert list(train.columns) == list(test.columns) and train.columns[-1] == "fareAmount"
    assert all(np.issubdtype(t, np.number) for t in train.dtypes)
    assert abs(len(test) / (len(train) + len(test)) - 0.2) < 0.01


def test_train_writes_the_serving_contract(outputs):
    card = json.loads((outputs / "model" / "model.json").read_text())
    assert card["name"] == "nyc_taxi" and card["task"] == "regression" and card["target"] == "fareAmount"
    features = pd.read_csv(outputs / "features" / "test.csv")[card["features"]].to_numpy(dtype=float)
    predicted = joblib.load(outputs / "model" / "model.joblib").predict(features[:5])
    assert predicted.shape == (5,) and np.all(predicted > 0)


def test_evaluate_and_score(outputs):
    metrics = json.loads((outputs / "metrics" / "metrics.json").read_text())
    assert set(metrics) == {"rmse", "mae", "r2"} and metrics["r2"] > 0.7 and metrics["mae"] <= metrics["rmse"]
    predictions = pd.read_csv(outputs / "scores" / "predictions.csv")
    summary = json.loads((outputs / "scores" / "summary.json").read_text())
    assert len(predictions) == summary["rows"] == len(pd.read_csv(outputs / "features" / "test.csv"))


def test_register_is_idempotent_per_run_id(outputs, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    args = ["--model", outputs / "model", "--metrics", outputs / "metrics", "--scores", outputs / "scores",
            "--model_name", "nyc_taxi", "--run_id", "r1", "--data_uri", "incoming/nyc_taxi/x.csv"]
    stage("register", *args, "--registration", tmp_path / "first", env=env)
    stage("register", *args, "--registration", tmp_path / "second", env=env)
    first = json.loads((tmp_path / "first" / "registered.json").read_text())
    second = json.loads((tmp_path / "second" / "registered.json").read_text())
    assert first["version"] == second["version"] == "1" and second["reused"] is True
    assert first["tags"]["run_id"] == "r1" and first["tags"]["task"] == "regression"
    assert float(first["tags"]["rmse"]) > 0
