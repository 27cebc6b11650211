"""Transform: the 13 measurements are the features; a stratified, seeded train/test split."""

from __future__ import annotations

import pandas as pd
import tabular
from prep import MEASUREMENTS, TARGET, TASK

FEATURES = MEASUREMENTS


def split(frame: pd.DataFrame, test_size: float = 0.25, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test sets with the same share of each cultivar."""
    return tabular.split(frame[[*FEATURES, TARGET]], TARGET, TASK, test_size, seed)


if __name__ == "__main__":
    tabular.transform_main(split, FEATURES)
