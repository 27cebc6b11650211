"""The model artifact folder the serving image gets: ``model.joblib`` (a fitted scikit-learn estimator whose
``predict()`` takes a 2-D float array, features in ``model.json``'s order) and ``model.json`` (the card)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd


def save(estimator: Any, card: dict[str, Any], folder: Path) -> Path:
    """Write ``model.joblib`` and ``model.json`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, folder / "model.joblib")
    (folder / "model.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return folder


def load(folder: Path) -> tuple[Any, dict[str, Any]]:
    """The estimator and its card from an artifact folder."""
    card = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    return joblib.load(folder / "model.joblib"), card


def feature_matrix(frame: pd.DataFrame, card: dict[str, Any]) -> np.ndarray:
    """The features of ``frame`` as the float array ``predict()`` takes, in the card's order."""
    return frame[card["features"]].to_numpy(dtype=float)
