"""Prep: the complete rows of the model's columns (change it for your data)."""

import pandas as pd
import tabular

FEATURES = ["x1", "x2", "x3", "x4"]
TARGET = "target"
TASK = "__TASK__"


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's columns, complete rows only (add the data's own rules here)."""
    return tabular.complete(frame, [*FEATURES, TARGET])


if __name__ == "__main__":
    tabular.prep_main(clean)
