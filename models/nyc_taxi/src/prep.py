"""Prep: read an upload of green or yellow taxi trips (a CSV file, or a folder of them), reconcile the two
feeds' column names, parse times and drop trips that cannot be right (no fare, no distance, hours long)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import tabular

# The yellow and green feeds name the same things differently; canonical name on the right.
RENAMES = {
    "lpepPickupDatetime": "pickupDatetime", "tpepPickupDateTime": "pickupDatetime",
    "lpepDropoffDatetime": "dropoffDatetime", "tpepDropoffDateTime": "dropoffDatetime",
    "startLon": "pickupLongitude", "startLat": "pickupLatitude",
    "endLon": "dropoffLongitude", "endLat": "dropoffLatitude",
    "rateCodeId": "rateCodeID",
}
COLUMNS = ["cab", "vendorID", "pickupDatetime", "dropoffDatetime", "passengerCount", "tripDistance",
           "pickupLongitude", "pickupLatitude", "dropoffLongitude", "dropoffLatitude", "rateCodeID", "fareAmount"]
OPTIONAL = ["pickupLongitude", "pickupLatitude", "dropoffLongitude", "dropoffLatitude", "rateCodeID"]


def read_feed(path: Path) -> pd.DataFrame:
    """One green or yellow CSV with canonical column names and a ``cab`` column saying which feed it was."""
    frame = pd.read_csv(path)
    cab = "green" if "lpepPickupDatetime" in frame.columns else "yellow"
    frame = frame.rename(columns=RENAMES)
    for column in OPTIONAL:
        if column not in frame.columns:
            frame[column] = float("nan")
    frame["cab"] = cab
    return frame[COLUMNS]


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Parse the times, turn 0 coordinates into missing values, keep plausible trips only."""
    frame = frame.copy()
    for column in ("pickupDatetime", "dropoffDatetime"):
        frame[column] = pd.to_datetime(frame[column], errors="coerce")
    for column in ("pickupLongitude", "pickupLatitude", "dropoffLongitude", "dropoffLatitude"):
        frame.loc[frame[column] == 0, column] = float("nan")
    minutes = (frame["dropoffDatetime"] - frame["pickupDatetime"]).dt.total_seconds() / 60
    plausible = (
        frame["fareAmount"].between(2.5, 250) & frame["tripDistance"].between(0.01, 100)
        & minutes.between(0.5, 180) & frame["passengerCount"].between(1, 8)
    )
    return frame[plausible].reset_index(drop=True)


def cabs(raw: pd.DataFrame, prepared: pd.DataFrame) -> str:
    """Which feeds the upload held, for prep's summary."""
    return f" ({', '.join(sorted(set(raw['cab'])))} cabs)"


if __name__ == "__main__":
    tabular.prep_main(clean, "trips", read_feed, cabs)
