"""Train: fit the estimator and write the artifact folder (change it for your model)."""

import argparse
from pathlib import Path

import pandas as pd
import tabular
from prep import FEATURES, TARGET, TASK

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--model", type=Path, required=True)
    args = parser.parse_args()
    train = pd.read_csv(args.features / "train.csv")
    tabular.fit(train, args.model_name, TASK, FEATURES, TARGET, args.model)
    print(f"train: fitted on {len(train)} rows")
