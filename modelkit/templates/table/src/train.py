"""Train: fit the estimator and write the artifact folder (change it for your model)."""

from typing import Any

import pandas as pd
import tabular
from prep import FEATURES, TARGET, TASK


def fit(train: pd.DataFrame) -> Any:
    """The kit's small estimator for the task, fitted on ``train`` (put your own here, with its params)."""
    return tabular.fit_model(tabular.estimator(TASK), train, TASK, FEATURES, TARGET)


def card(model: Any, train: pd.DataFrame, name: str) -> dict[str, Any]:
    """``model.json``: the serving contract and how the model was trained."""
    return tabular.card(model, train, name, TASK, FEATURES, TARGET)


if __name__ == "__main__":
    tabular.train_main(fit, card)
