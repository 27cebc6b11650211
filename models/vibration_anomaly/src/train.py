"""Train: an isolation forest on the training readings (labels unused: anomalies are rare and unlabelled in
the field); its contamination is the expected share of anomalies. Writes the artifact folder."""

from __future__ import annotations

from typing import Any

import pandas as pd
import tabular
from prep import LABEL, TASK
from sklearn.ensemble import IsolationForest
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from transform import FEATURES

PARAMS = {"n_estimators": 200, "contamination": 0.03, "random_state": 0}


def fit(train: pd.DataFrame, params: dict[str, Any] | None = None) -> Pipeline:
    """Scaler + isolation forest fitted on ``train``'s sensor values."""
    model = make_pipeline(StandardScaler(), IsolationForest(**(params or PARAMS)))
    return tabular.fit_model(model, train, TASK, FEATURES, LABEL)


def card(model: Pipeline, train: pd.DataFrame, name: str) -> dict[str, Any]:
    """``model.json``: what serving needs to call ``predict()`` and read its answer (the kit's -1 anomaly,
    1 normal); then how it was trained."""
    return tabular.card(model, train, name, TASK, FEATURES, LABEL, PARAMS)


if __name__ == "__main__":
    tabular.train_main(fit, card)
