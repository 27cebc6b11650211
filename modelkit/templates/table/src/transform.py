"""Transform: features and target, split into train.csv and test.csv (change it for your features)."""

import pandas as pd
import tabular
from prep import FEATURES, TARGET, TASK


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded train/test split (stratified for classification)."""
    return tabular.split(frame, TARGET, TASK)


if __name__ == "__main__":
    tabular.transform_main(split, FEATURES)
