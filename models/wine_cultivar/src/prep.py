"""Prep: read an upload of wine measurements (a CSV file, or a folder of them), keep the known columns and
drop rows with a missing measurement or an unknown cultivar."""

from __future__ import annotations

import pandas as pd
import tabular

MEASUREMENTS = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids",
                "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
                "od280_od315_of_diluted_wines", "proline"]
TARGET = "cultivar"
TASK = "classification"
CLASSES = [0, 1, 2]


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Known columns only; complete rows of a known cultivar."""
    frame = tabular.complete(frame, [*MEASUREMENTS, TARGET])
    return frame[frame[TARGET].isin(CLASSES)].astype({TARGET: int}).reset_index(drop=True)


if __name__ == "__main__":
    tabular.prep_main(clean, "wines")
