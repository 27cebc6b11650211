"""Train: fit a gradient-boosted regressor of the fare on the training set; write the artifact folder."""

from __future__ import annotations

from typing import Any

import pandas as pd
import tabular
from sklearn.ensemble import HistGradientBoostingRegressor
from transform import FEATURES, TARGET, TASK

PARAMS = {"max_iter": 200, "learning_rate": 0.1, "max_leaf_nodes": 31, "random_state": 0}


def fit(train: pd.DataFrame, params: dict[str, Any] | None = None) -> HistGradientBoostingRegressor:
    """A regressor fitted on ``train``'s features (missing coordinates are handled natively)."""
    model = HistGradientBoostingRegressor(**(params or PARAMS))
    return tabular.fit_model(model, train, TASK, FEATURES, TARGET)


def card(model: HistGradientBoostingRegressor, train: pd.DataFrame, name: str) -> dict[str, Any]:
    """``model.json``: the fare regressor's serving contract and how it was trained."""
    return tabular.card(model, train, name, TASK, FEATURES, TARGET, PARAMS, "the fare in US dollars")


if __name__ == "__main__":
    tabular.train_main(fit, card)
