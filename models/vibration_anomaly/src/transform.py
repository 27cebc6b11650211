"""Transform: the raw sensor values are the features (an edge device sends one reading at a time, so no
window features); the first readings in time train the model, the latest ones test it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from prep import LABEL, SENSORS

FEATURES = SENSORS


def split(frame: pd.DataFrame, test_size: float = 0.3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A split in time: no reading from the future trains the model."""
    cut = int(len(frame) * (1 - test_size))
    columns = FEATURES + [LABEL]
    return frame[columns].iloc[:cut].reset_index(drop=True), frame[columns].iloc[cut:].reset_index(drop=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prepared", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True, help="output folder: train.csv, test.csv")
    parser.add_argument("--test_size", type=float, default=0.3)
    args = parser.parse_args(argv)
    train, test = split(pd.read_csv(args.prepared / "prepared.csv"), args.test_size)
    args.features.mkdir(parents=True, exist_ok=True)
    train.to_csv(args.features / "train.csv", index=False)
    test.to_csv(args.features / "test.csv", index=False)
    print(f"transform: {len(FEATURES)} features, {len(train)} train rows, {len(test)} test rows")


if __name__ == "__main__":
    main()
