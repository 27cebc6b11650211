"""Evaluate: the task's metrics on the test set, to metrics.json and MLflow."""

from pathlib import Path

import pandas as pd
import tabular
from prep import TASK


def compute_metrics(model_dir: Path, test: pd.DataFrame) -> dict[str, float]:
    """The task's metrics of the artifact in ``model_dir`` on ``test``."""
    return tabular.metrics(model_dir, test, TASK)


if __name__ == "__main__":
    tabular.evaluate_main(compute_metrics)
