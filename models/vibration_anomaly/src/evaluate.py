"""Evaluate: precision, recall and F1 of the flagged readings against the labelled anomalies of the test
set; written to metrics.json and logged with MLflow."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import tabular
from prep import TASK


def compute_metrics(model_dir: Path, test: pd.DataFrame) -> dict[str, float]:
    """Anomaly metrics of the artifact in ``model_dir`` on ``test`` (positive class: anomaly)."""
    return tabular.metrics(model_dir, test, TASK)


if __name__ == "__main__":
    tabular.evaluate_main(compute_metrics)
