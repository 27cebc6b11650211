"""Train: an isolation forest on the training readings (labels unused: anomalies are rare and unlabelled in
the field); its contamination is the expected share of anomalies. Writes the artifact folder."""

from __future__ import annotations

import argparse
from pathlib import Path

import artifact
import pandas as pd
import sklearn
from prep import LABEL
from sklearn.ensemble import IsolationForest
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from transform import FEATURES

PARAMS = {"n_estimators": 200, "contamination": 0.03, "random_state": 0}


def fit(train: pd.DataFrame, params: dict | None = None) -> Pipeline:
    """Scaler + isolation forest fitted on ``train``'s sensor values."""
    model = make_pipeline(StandardScaler(), IsolationForest(**(params or PARAMS)))
    return model.fit(train[FEATURES].to_numpy(dtype=float))


def card(name: str, train_rows: int) -> dict:
    """``model.json``: what serving needs to call ``predict()`` and read its answer; then how it was trained."""
    return {"name": name, "task": "anomaly", "features": FEATURES, "target": LABEL,
            "predict": {"anomaly": -1, "normal": 1},
            "estimator": "StandardScaler+IsolationForest", "params": PARAMS, "train_rows": train_rows,
            "sklearn_version": sklearn.__version__}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--model", type=Path, required=True, help="output folder: model.joblib, model.json")
    args = parser.parse_args(argv)
    train = pd.read_csv(args.features / "train.csv")
    artifact.save(fit(train), card(args.model_name, len(train)), args.model)
    print(f"train: fitted on {len(train)} rows")


if __name__ == "__main__":
    main()
