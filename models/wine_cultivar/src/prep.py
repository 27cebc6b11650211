"""Prep: read an upload of wine measurements (a CSV file, or a folder of them), keep the known columns and
drop rows with a missing measurement or an unknown cultivar."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

MEASUREMENTS = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids",
                "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
                "od280_od315_of_diluted_wines", "proline"]
TARGET = "cultivar"
CLASSES = [0, 1, 2]


def read_upload(path: Path) -> pd.DataFrame:
    """An upload: one CSV, or every CSV of a folder."""
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"no CSV file in {path}")
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Known columns only; complete rows of a known cultivar."""
    frame = frame[MEASUREMENTS + [TARGET]].dropna()
    return frame[frame[TARGET].isin(CLASSES)].astype({TARGET: int}).reset_index(drop=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the uploaded CSV (or a folder of CSVs)")
    parser.add_argument("--prepared", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    raw = read_upload(args.data)
    prepared = clean(raw)
    args.prepared.mkdir(parents=True, exist_ok=True)
    prepared.to_csv(args.prepared / "prepared.csv", index=False)
    print(f"prep: {len(raw)} wines read, {len(prepared)} kept")


if __name__ == "__main__":
    main()
