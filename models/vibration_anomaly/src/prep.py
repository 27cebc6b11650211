"""Prep: read an upload of sensor readings (a CSV file, or a folder of them), parse the timestamps, drop
incomplete readings and order them in time."""

from __future__ import annotations

import pandas as pd
import tabular

SENSORS = ["vibration_rms", "vibration_peak", "temperature_c"]
LABEL = "anomaly"
TASK = "anomaly"


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Complete readings with a parsable timestamp, oldest first."""
    frame = frame.assign(timestamp=pd.to_datetime(frame["timestamp"], utc=True, errors="coerce"))
    frame = tabular.complete(frame, ["timestamp", "device_id", *SENSORS, LABEL]).astype({LABEL: int})
    return frame.sort_values("timestamp", kind="stable").reset_index(drop=True)


def anomalies(raw: pd.DataFrame, prepared: pd.DataFrame) -> str:
    """How many kept readings are labelled anomalies, for prep's summary."""
    return f", {int(prepared[LABEL].sum())} labelled anomalies"


if __name__ == "__main__":
    tabular.prep_main(clean, "readings", note=anomalies)
