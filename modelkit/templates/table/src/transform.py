"""Transform: features and target, split into train.csv and test.csv (change it for your features)."""

import argparse
from pathlib import Path

import pandas as pd
import tabular
from prep import TARGET, TASK

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prepared", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True)
    args = parser.parse_args()
    train, test = tabular.split(pd.read_csv(args.prepared / "prepared.csv"), TARGET, TASK)
    args.features.mkdir(parents=True, exist_ok=True)
    train.to_csv(args.features / "train.csv", index=False)
    test.to_csv(args.features / "test.csv", index=False)
