"""Prep: the complete rows of the model's columns (change it for your data)."""

import argparse
from pathlib import Path

import tabular

FEATURES = ["x1", "x2", "x3", "x4"]
TARGET = "target"
TASK = "__TASK__"

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--prepared", type=Path, required=True)
    args = parser.parse_args()
    args.prepared.mkdir(parents=True, exist_ok=True)
    tabular.read(args.data, [*FEATURES, TARGET]).to_csv(args.prepared / "prepared.csv", index=False)
