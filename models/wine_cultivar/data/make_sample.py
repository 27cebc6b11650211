"""Write the sample upload ``wine.csv`` from scikit-learn's bundled wine dataset (no download).

Run from anywhere: ``python models/wine_cultivar/data/make_sample.py``. The column names are the dataset's
feature names with ``/`` replaced by ``_``; the target column ``cultivar`` holds the class (0, 1, 2).
"""

from __future__ import annotations

import csv
from pathlib import Path

from sklearn.datasets import load_wine


def column_name(feature: str) -> str:
    """A CSV-friendly column name for one of the dataset's feature names."""
    return feature.replace("/", "_")


def write_sample(dest: Path) -> Path:
    """Write every sample of the dataset (178 rows) to ``dest``."""
    bunch = load_wine()
    with dest.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow([column_name(f) for f in bunch.feature_names] + ["cultivar"])
        for row, label in zip(bunch.data, bunch.target, strict=True):
            writer.writerow([repr(float(v)) for v in row] + [int(label)])
    return dest


if __name__ == "__main__":
    print(write_sample(Path(__file__).with_name("wine.csv")))
