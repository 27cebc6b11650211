"""Evaluate: precision, recall and F1 of the flagged readings against the labelled anomalies of the test
set; written to metrics.json and logged with MLflow."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import artifact
import pandas as pd
from sklearn.metrics import f1_score, precision_score, recall_score


def compute_metrics(model_dir: Path, test: pd.DataFrame) -> dict[str, float]:
    """Anomaly metrics of the artifact in ``model_dir`` on ``test`` (positive class: anomaly)."""
    estimator, card = artifact.load(model_dir)
    truth = test[card["target"]].to_numpy(dtype=int) == 1
    flagged = estimator.predict(artifact.feature_matrix(test, card)) == card["predict"]["anomaly"]
    return {"precision": float(precision_score(truth, flagged, zero_division=0)),
            "recall": float(recall_score(truth, flagged, zero_division=0)),
            "f1": float(f1_score(truth, flagged, zero_division=0))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True, help="output folder: metrics.json")
    args = parser.parse_args(argv)
    metrics = compute_metrics(args.model, pd.read_csv(args.features / "test.csv"))
    args.metrics.mkdir(parents=True, exist_ok=True)
    (args.metrics / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    if os.environ.get("MLFLOW_TRACKING_URI"):
        import mlflow

        _, card = artifact.load(args.model)
        with mlflow.start_run():  # the pipeline's run (MLFLOW_RUN_ID) on the local runner and on Azure ML
            mlflow.log_params({"estimator": card["estimator"], "train_rows": card["train_rows"], **card["params"]})
            mlflow.log_metrics(metrics)
    print("evaluate: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))


if __name__ == "__main__":
    main()
