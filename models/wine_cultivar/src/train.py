"""Train: a standardised multinomial logistic regression over the measurements; write the artifact folder."""

from __future__ import annotations

from typing import Any

import pandas as pd
import tabular
from prep import TARGET, TASK
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from transform import FEATURES

PARAMS = {"C": 1.0, "max_iter": 1000}


def fit(train: pd.DataFrame, params: dict[str, Any] | None = None) -> Pipeline:
    """Scaler + logistic regression fitted on ``train``."""
    model = make_pipeline(StandardScaler(), LogisticRegression(**(params or PARAMS)))
    return tabular.fit_model(model, train, TASK, FEATURES, TARGET)


def card(model: Pipeline, train: pd.DataFrame, name: str) -> dict[str, Any]:
    """``model.json``: the cultivar classifier's serving contract and how it was trained."""
    return tabular.card(model, train, name, TASK, FEATURES, TARGET, PARAMS, "the cultivar, one of classes")


if __name__ == "__main__":
    tabular.train_main(fit, card)
