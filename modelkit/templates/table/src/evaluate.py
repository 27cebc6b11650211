"""Evaluate: the task's metrics on the test set, to metrics.json and MLflow."""

import argparse
from pathlib import Path

import pandas as pd
import tabular
from prep import TASK

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    args = parser.parse_args()
    values = tabular.metrics(args.model, pd.read_csv(args.features / "test.csv"), TASK)
    tabular.write_metrics(values, args.metrics, args.model)
