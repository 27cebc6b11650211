"""Tabular stages: read an upload, split, fit, describe, evaluate by task, and the four stage programs' mains.
A tabular model (and the ``model-factory new --kind table`` scaffold) passes its cleaning, split, estimator
and card to the mains and keeps only those in its ``src/``.
``artifact`` is imported where it is used: prep and transform run without it in their snapshot."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

METRICS = {"regression": ("rmse", "mae", "r2"), "classification": ("accuracy", "f1_macro"),
           "anomaly": ("precision", "recall", "f1")}
ANOMALY = {"anomaly": -1, "normal": 1}  # what an anomaly model's predict() answers (scikit-learn's outliers)


def read_upload(data: Path, read_one: Callable[[Path], pd.DataFrame] = pd.read_csv) -> pd.DataFrame:
    """An upload: one CSV, or every CSV of a folder (sorted by name), each read by ``read_one``."""
    files = sorted(data.glob("*.csv")) if data.is_dir() else [data]
    if not files:
        raise FileNotFoundError(f"no CSV file in {data}")
    return pd.concat([read_one(f) for f in files], ignore_index=True)


def complete(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The rows of ``frame`` with a value in each of ``columns``, only those columns."""
    return frame[columns].dropna().reset_index(drop=True)


def split(frame: pd.DataFrame, target: str, task: str, test_size: float = 0.25,
          seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded random train/test split (stratified by the target for classification)."""
    from sklearn.model_selection import train_test_split

    stratify = frame[target] if task == "classification" else None
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=stratify)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def split_in_order(frame: pd.DataFrame, test_size: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first rows train, the last ``test_size`` share tests (a split in time for a frame in time order)."""
    cut = int(len(frame) * (1 - test_size))
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


def estimator(task: str) -> Any:
    """A small scikit-learn estimator for the task."""
    from sklearn.ensemble import IsolationForest
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if task == "regression":
        return make_pipeline(StandardScaler(), LinearRegression())
    if task == "classification":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return make_pipeline(StandardScaler(), IsolationForest(contamination=0.05, random_state=0))


def fit_model(model: Any, train: pd.DataFrame, task: str, features: list[str], target: str) -> Any:
    """``model`` fitted on ``train``'s features as floats (and its target, except anomaly: unsupervised)."""
    x = train[features].to_numpy(dtype=float)
    return model.fit(x) if task == "anomaly" else model.fit(x, train[target].to_numpy())


def card(model: Any, train: pd.DataFrame, name: str, task: str, features: list[str], target: str,
         params: dict[str, Any] | None = None, predict: Any = None) -> dict[str, Any]:
    """``model.json``: what serving needs to call ``predict()`` and read its answer (the classes seen in
    training; ``predict`` describes the answer, anomaly: ``ANOMALY``), then how the model was trained."""
    import sklearn

    facts: dict[str, Any] = {"name": name, "task": task, "features": features, "target": target}
    if task == "classification":
        facts["classes"] = sorted(int(c) for c in train[target].unique())
    if predict is not None or task == "anomaly":
        facts["predict"] = ANOMALY if predict is None else predict
    steps = [s for _, s in model.steps] if hasattr(model, "steps") else [model]
    return {**facts, "estimator": "+".join(type(s).__name__ for s in steps), "params": params or {},
            "train_rows": len(train), "sklearn_version": sklearn.__version__}


def metrics(model_dir: Path, test: pd.DataFrame, task: str) -> dict[str, float]:
    """The task's metrics of the artifact on ``test`` (anomaly: the label 1 marks an anomaly, and a
    prediction of the card's ``predict.anomaly`` flags one)."""
    import artifact
    from sklearn import metrics as m

    model, facts = artifact.load(model_dir)
    predicted = np.asarray(model.predict(artifact.feature_matrix(test, facts)))
    truth = test[facts["target"]].to_numpy()
    if task == "regression":
        return {"rmse": float(m.mean_squared_error(truth, predicted) ** 0.5),
                "mae": float(m.mean_absolute_error(truth, predicted)), "r2": float(m.r2_score(truth, predicted))}
    if task == "classification":
        return {"accuracy": float(m.accuracy_score(truth, predicted)),
                "f1_macro": float(m.f1_score(truth, predicted, average="macro"))}
    flagged, labelled = predicted == facts["predict"]["anomaly"], truth == 1
    return {"precision": float(m.precision_score(labelled, flagged, zero_division=0)),
            "recall": float(m.recall_score(labelled, flagged, zero_division=0)),
            "f1": float(m.f1_score(labelled, flagged, zero_division=0))}


def write_metrics(values: dict[str, float], folder: Path, model_dir: Path) -> None:
    """``metrics.json`` in ``folder``, and the metrics with the card's estimator, train_rows and params logged
    to the pipeline's MLflow run (``MLFLOW_RUN_ID`` on the local runner and on Azure ML) when there is one."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
    if os.environ.get("MLFLOW_TRACKING_URI"):
        import artifact
        import mlflow

        _, facts = artifact.load(model_dir)
        with mlflow.start_run():
            mlflow.log_params({"estimator": facts["estimator"], "train_rows": facts["train_rows"],
                               **facts["params"]})
            mlflow.log_metrics(values)
    print("evaluate: " + ", ".join(f"{k}={v:.4f}" for k, v in values.items()))


# The stage programs' mains: the arguments their components pass, the files between the steps.

def _args(argv: list[str] | None, *names: str) -> argparse.Namespace:
    """The stage's required options (``--features`` etc.; all paths but ``--model_name``); its description
    is the first line of the stage program's docstring."""
    doc = sys.modules["__main__"].__doc__ or ""
    parser = argparse.ArgumentParser(description=doc.strip().split("\n")[0])
    for name in names:
        parser.add_argument(f"--{name}", type=str if name == "model_name" else Path, required=True)
    return parser.parse_args(argv)


def prep_main(clean: Callable[[pd.DataFrame], pd.DataFrame], noun: str = "rows",
              read_one: Callable[[Path], pd.DataFrame] = pd.read_csv,
              note: Callable[[pd.DataFrame, pd.DataFrame], str] | None = None, argv: list[str] | None = None) -> None:
    """``--data`` (a CSV or a folder of them, each read by ``read_one``) cleaned to ``--prepared``/prepared.csv;
    ``note(raw, prepared)`` adds to the printed summary."""
    args = _args(argv, "data", "prepared")
    raw = read_upload(args.data, read_one)
    prepared = clean(raw)
    args.prepared.mkdir(parents=True, exist_ok=True)
    prepared.to_csv(args.prepared / "prepared.csv", index=False)
    print(f"prep: {len(raw)} {noun} read, {len(prepared)} kept" + (note(raw, prepared) if note else ""))


def transform_main(split_features: Callable[[pd.DataFrame], tuple[pd.DataFrame, pd.DataFrame]], features: list[str],
                   argv: list[str] | None = None) -> None:
    """``--prepared``/prepared.csv made into ``--features``/train.csv and test.csv by ``split_features``."""
    args = _args(argv, "prepared", "features")
    train, test = split_features(pd.read_csv(args.prepared / "prepared.csv"))
    args.features.mkdir(parents=True, exist_ok=True)
    train.to_csv(args.features / "train.csv", index=False)
    test.to_csv(args.features / "test.csv", index=False)
    print(f"transform: {len(features)} features, {len(train)} train rows, {len(test)} test rows")


def train_main(fit_train: Callable[[pd.DataFrame], Any], describe: Callable[[Any, pd.DataFrame, str], dict[str, Any]],
               argv: list[str] | None = None) -> None:
    """``fit_train`` on ``--features``/train.csv; the artifact folder (``describe(model, train, model_name)``
    its card) written to ``--model``."""
    import artifact

    args = _args(argv, "features", "model_name", "model")
    train = pd.read_csv(args.features / "train.csv")
    model = fit_train(train)
    artifact.save(model, describe(model, train, args.model_name), args.model)
    print(f"train: fitted on {len(train)} rows")


def evaluate_main(measure: Callable[[Path, pd.DataFrame], dict[str, float]], argv: list[str] | None = None) -> None:
    """``measure(--model, --features/test.csv)`` written to ``--metrics``/metrics.json and MLflow."""
    args = _args(argv, "model", "features", "metrics")
    write_metrics(measure(args.model, pd.read_csv(args.features / "test.csv")), args.metrics, args.model)
