"""Transform: the raw sensor values are the features (an edge device sends one reading at a time, so no
window features); the first readings in time train the model, the latest ones test it."""

from __future__ import annotations

import pandas as pd
import tabular
from prep import LABEL, SENSORS

FEATURES = SENSORS


def split(frame: pd.DataFrame, test_size: float = 0.3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A split in time: no reading from the future trains the model."""
    return tabular.split_in_order(frame[[*FEATURES, LABEL]], test_size)


if __name__ == "__main__":
    tabular.transform_main(split, FEATURES)
