"""Transform: derive the model's features from prepared trips and split them into train and test sets."""

from __future__ import annotations

import pandas as pd
import tabular

FEATURES = ["vendorID", "passengerCount", "tripDistance", "tripMinutes", "pickupHour", "pickupWeekday",
            "rateCodeID", "pickupLongitude", "pickupLatitude", "dropoffLongitude", "dropoffLatitude", "isGreen"]
TARGET = "fareAmount"
TASK = "regression"


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
    return tabular.split(frame, TARGET, TASK, test_size, seed)


if __name__ == "__main__":
    tabular.transform_main(lambda prepared: split(add_features(prepared)), FEATURES)
