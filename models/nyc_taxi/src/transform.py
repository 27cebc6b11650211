"""Transform: derive the model's features from prepared trips and split them into train and test sets."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

FEATURES = ["vendorID", "passengerCount", "tripDistance", "tripMinutes", "pickupHour", "pickupWeekday",
            "rateCodeID", "pickupLongitude", "pickupLatitude", "dropoffLongitude", "dropoffLatitude", "isGreen"]
TARGET = "fareAmount"


def add_features(prepared: pd.DataFrame) -> pd.DataFrame:
    """The feature columns (numbers only, missing coordinates stay NaN) and the target."""
    pickup = pd.to_datetime(prepared["pickupDatetime"])
    dropoff = pd.to_datetime(prepared["dropoffDatetime"])
    frame = prepared.assign(
        tripMinutes=(dropoff - pickup).dt.total_seconds() / 60,
        pickupHour=pickup.dt.hour,
        pickupWeekday=pickup.dt.day_of_week,
        isGreen=(prepared["cab"] == "green").astype(int),
    )
    return frame[FEATURES + [TARGET]].astype(float)


def split(frame: pd.DataFrame, test_size: float = 0.2, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded random train/test split."""
    train, test = train_test_split(frame, test_size=test_size, random_state=seed)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prepared", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True, help="output folder: train.csv, test.csv")
    parser.add_argument("--test_size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    train, test = split(add_features(pd.read_csv(args.prepared / "prepared.csv")), args.test_size, args.seed)
    args.features.mkdir(parents=True, exist_ok=True)
    train.to_csv(args.features / "train.csv", index=False)
    test.to_csv(args.features / "test.csv", index=False)
    print(f"transform: {len(FEATURES)} features, {len(train)} train rows, {len(test)} test rows")


if __name__ == "__main__":
    main()
