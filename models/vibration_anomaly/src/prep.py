"""Prep: read an upload of sensor readings (a CSV file, or a folder of them), parse the timestamps, drop
incomplete readings and order them in time."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

SENSORS = ["vibration_rms", "vibration_peak", "temperature_c"]
LABEL = "anomaly"


def read_upload(path: Path) -> pd.DataFrame:
    """An upload: one CSV, or every CSV of a folder."""
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"no CSV file in {path}")
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Complete readings with a parsable timestamp, oldest first."""
    frame = frame[["timestamp", "device_id", *SENSORS, LABEL]].copy()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce")
    frame = frame.dropna().astype({LABEL: int})
    return frame.sort_values("timestamp", kind="stable").reset_index(drop=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the uploaded CSV (or a folder of CSVs)")
    parser.add_argument("--prepared", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    raw = read_upload(args.data)
    prepared = clean(raw)
    args.prepared.mkdir(parents=True, exist_ok=True)
    prepared.to_csv(args.prepared / "prepared.csv", index=False)
    print(f"prep: {len(raw)} readings read, {len(prepared)} kept, {int(prepared[LABEL].sum())} labelled anomalies")


if __name__ == "__main__":
    main()
