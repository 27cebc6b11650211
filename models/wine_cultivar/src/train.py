"""Train: a standardised multinomial logistic regression over the measurements; write the artifact folder."""

from __future__ import annotations

import argparse
from pathlib import Path

import artifact
import pandas as pd
import sklearn
from prep import CLASSES, TARGET
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from transform import FEATURES

PARAMS = {"C": 1.0, "max_iter": 1000}


def fit(train: pd.DataFrame, params: dict | None = None) -> Pipeline:
    """Scaler + logistic regression fitted on ``train``."""
    model = make_pipeline(StandardScaler(), LogisticRegression(**(params or PARAMS)))
    return model.fit(train[FEATURES].to_numpy(dtype=float), train[TARGET].to_numpy(dtype=int))


def card(name: str, train_rows: int) -> dict:
    """``model.json``: what the serving side needs to call ``predict()``; then how it was trained."""
    return {"name": name, "task": "classification", "features": FEATURES, "target": TARGET, "classes": CLASSES,
            "predict": "the cultivar, one of classes",
            "estimator": "StandardScaler+LogisticRegression", "params": PARAMS, "train_rows": train_rows,
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
