"""Transform: the 13 measurements are the features; a stratified, seeded train/test split."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from prep import MEASUREMENTS, TARGET
from sklearn.model_selection import train_test_split

FEATURES = MEASUREMENTS


def split(frame: pd.DataFrame, test_size: float = 0.25, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test sets with the same share of each cultivar."""
    train, test = train_test_split(frame[FEATURES + [TARGET]], test_size=test_size, random_state=seed,
                                   stratify=frame[TARGET])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prepared", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True, help="output folder: train.csv, test.csv")
    parser.add_argument("--test_size", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    train, test = split(pd.read_csv(args.prepared / "prepared.csv"), args.test_size, args.seed)
    args.features.mkdir(parents=True, exist_ok=True)
    train.to_csv(args.features / "train.csv", index=False)
    test.to_csv(args.features / "test.csv", index=False)
    print(f"transform: {len(FEATURES)} features, {len(train)} train rows, {len(test)} test rows")


if __name__ == "__main__":
    main()
