"""Generic tabular stages for a scaffolded model (``model-factory new --kind table``): read, split, fit,
evaluate by task. A model's own ``src/`` programs call these and replace them as the model grows its own.
``artifact`` is imported where it is used: prep and transform run without it in their snapshot."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

METRICS = {"regression": ("rmse", "mae", "r2"), "classification": ("accuracy", "f1_macro"),
           "anomaly": ("precision", "recall", "f1")}


def read(data: Path, columns: list[str]) -> pd.DataFrame:
    """The upload (a CSV, or a folder of CSVs) with the complete rows of ``columns``."""
    files = sorted(data.glob("*.csv")) if data.is_dir() else [data]
    frame = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    return frame[columns].dropna().reset_index(drop=True)


def split(frame: pd.DataFrame, target: str, task: str, test_size: float = 0.25) -> tuple[pd.DataFrame, ...]:
    """A seeded train/test split (stratified for classification)."""
    from sklearn.model_selection import train_test_split

    stratify = frame[target] if task == "classification" else None
    return tuple(train_test_split(frame, test_size=test_size, random_state=0, stratify=stratify))


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


def fit(train: pd.DataFrame, name: str, task: str, features: list[str], target: str, folder: Path) -> Path:
    """Fit the task's estimator on ``train`` and save the artifact folder (model.joblib + model.json)."""
    import artifact
    import sklearn

    model = estimator(task)
    x = train[features].to_numpy(dtype=float)
    model.fit(x) if task == "anomaly" else model.fit(x, train[target].to_numpy())
    card: dict[str, Any] = {"name": name, "task": task, "features": features, "target": target,
                            "estimator": "+".join(type(s).__name__ for s in model), "params": {},
                            "train_rows": len(train), "sklearn_version": sklearn.__version__}
    if task == "classification":
        card["classes"] = sorted(int(c) for c in train[target].unique())
    if task == "anomaly":
        card["predict"] = {"anomaly": -1, "normal": 1}
    return artifact.save(model, card, folder)


def metrics(model_dir: Path, test: pd.DataFrame, task: str) -> dict[str, float]:
    """The task's metrics of the artifact on ``test`` (anomaly: the label 1 marks an anomaly)."""
    import artifact
    from sklearn import metrics as m

    model, card = artifact.load(model_dir)
    predicted = np.asarray(model.predict(artifact.feature_matrix(test, card)))
    truth = test[card["target"]].to_numpy()
    if task == "regression":
        return {"rmse": float(np.sqrt(m.mean_squared_error(truth, predicted))),
                "mae": float(m.mean_absolute_error(truth, predicted)), "r2": float(m.r2_score(truth, predicted))}
    if task == "classification":
        return {"accuracy": float(m.accuracy_score(truth, predicted)),
                "f1_macro": float(m.f1_score(truth, predicted, average="macro"))}
    flagged, labelled = predicted == -1, truth == 1
    return {"precision": float(m.precision_score(labelled, flagged, zero_division=0)),
            "recall": float(m.recall_score(labelled, flagged, zero_division=0)),
            "f1": float(m.f1_score(labelled, flagged, zero_division=0))}


def write_metrics(values: dict[str, float], folder: Path, model_dir: Path) -> None:
    """``metrics.json`` in ``folder``, and the metrics logged to the pipeline's MLflow run when there is one."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
    if os.environ.get("MLFLOW_TRACKING_URI"):
        import artifact
        import mlflow

        _, card = artifact.load(model_dir)
        with mlflow.start_run():
            mlflow.log_params({"estimator": card["estimator"], "train_rows": card["train_rows"]})
            mlflow.log_metrics(values)
    print("evaluate: " + ", ".join(f"{k}={v:.4f}" for k, v in values.items()))
