"""Train: fit a gradient-boosted regressor of the fare on the training set; write the artifact folder."""

from __future__ import annotations

import argparse
from pathlib import Path

import artifact
import pandas as pd
import sklearn
from sklearn.ensemble import HistGradientBoostingRegressor
from transform import FEATURES, TARGET

PARAMS = {"max_iter": 200, "learning_rate": 0.1, "max_leaf_nodes": 31, "random_state": 0}


def fit(train: pd.DataFrame, params: dict | None = None) -> HistGradientBoostingRegressor:
    """A regressor fitted on ``train``'s features (missing coordinates are handled natively)."""
    model = HistGradientBoostingRegressor(**(params or PARAMS))
    return model.fit(train[FEATURES].to_numpy(dtype=float), train[TARGET].to_numpy(dtype=float))


def card(name: str, train_rows: int) -> dict:
    """``model.json``: what the serving side needs to call ``predict()``; then how it was trained."""
    return {"name": name, "task": "regression", "features": FEATURES, "target": TARGET,
            "predict": "the fare in US dollars",
            "estimator": "HistGradientBoostingRegressor", "params": PARAMS, "train_rows": train_rows,
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
