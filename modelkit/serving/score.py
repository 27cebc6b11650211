"""Scoring script (Azure ML contract): ``init()`` loads the registered model, ``run(raw_data)`` predicts.

Works unchanged in any server that speaks the contract: ours (``model_server``) and Azure ML's
``azureml-inference-server-http``. Needs numpy, scikit-learn and joblib only.

Model folder (``AZUREML_MODEL_DIR``, searched recursively for ``model.json``): ``model.joblib`` (a fitted
estimator whose ``predict()`` takes a 2-D float array, columns in ``model.json``'s ``features`` order) and
``model.json`` ``{"name", "task", "features", "target", "classes"?}``.

Request: ``{"data": [[f1, f2, ...], ...]}`` or ``{"data": [{"feature": value, ...}, ...]}`` (a bare list is
accepted too); ``null`` is a missing value, for models that handle them (others answer 400).
Response: ``{"predictions": [...]}``; a classifier whose model.yaml declares ``serving.probabilities: true``
(the image's ``model/serving.json``) answers, per row, Azure ML online-endpoint style, the label beside every
label's probability: ``{"label": 2, "probabilities": {"0": 0.01, "1": 0.09, "2": 0.9}}``. Bad input raises
``BadRequest`` (``http_status`` 400); the server answers it with a 400 that carries the message.
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np

MAX_ROWS = 10_000

model: Any = None
features: list[str] = []
feature_set: frozenset[str] = frozenset()
meta: dict[str, Any] = {}
options: dict[str, Any] = {}  # serving.json beside the artifact: {"probabilities": true}


class BadRequest(ValueError):
    """The request is malformed; the message says what was wrong (answered as HTTP 400)."""

    http_status = 400


def _model_folder(root: Path) -> Path:
    found = sorted(root.rglob("model.json"), key=lambda p: len(p.parts))
    if not found:
        raise FileNotFoundError(f"no model.json under AZUREML_MODEL_DIR={root}")
    return found[0].parent


def init() -> None:
    """Load ``model.joblib`` and ``model.json`` from ``AZUREML_MODEL_DIR``."""
    global model, features, feature_set, meta, options
    root = Path(os.environ.get("AZUREML_MODEL_DIR", "."))
    folder = _model_folder(root)
    options_file = root / "serving.json"
    options = json.loads(options_file.read_text()) if options_file.is_file() else {}
    meta = json.loads((folder / "model.json").read_text())
    features = list(meta["features"])
    feature_set = frozenset(features)
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    model = joblib.load(folder / "model.joblib")
    if options.get("probabilities") and not hasattr(model, "predict_proba"):
        raise TypeError(f"serving.probabilities is declared, but {type(model).__name__} has no predict_proba()")
    try:  # inputs are checked below, so scikit-learn's per-call finiteness check is redundant
        import sklearn

        sklearn.set_config(assume_finite=True)
    except ImportError:
        pass


def _reject_constant(name: str) -> float:
    raise BadRequest(f"{name} is not a finite number; send plain JSON numbers")


def _number(value: Any, row: int, column: str) -> float:
    if type(value) is float or type(value) is int:
        return value
    if value is None:  # a missing value; models that cannot take one are answered with a 400 below
        return math.nan
    raise BadRequest(f"row {row}, feature {column!r}: expected a number, got {json.dumps(value)[:60]}")


def _matrix(payload: Any) -> np.ndarray:
    rows = payload.get("data") if isinstance(payload, dict) else payload
    if isinstance(payload, dict) and "data" not in payload:
        raise BadRequest('expected an object with "data": a list of rows')
    if not isinstance(rows, list) or not rows:
        raise BadRequest('"data" must be a non-empty list of rows')
    if len(rows) > MAX_ROWS:
        raise BadRequest(f'"data" has {len(rows)} rows; at most {MAX_ROWS} per request')
    width = len(features)
    matrix: list[list[float]] = []
    for i, row in enumerate(rows):
        if isinstance(row, list):
            if len(row) != width:
                raise BadRequest(f"row {i}: expected {width} values ({', '.join(features)}), got {len(row)}")
            matrix.append([_number(v, i, features[j]) for j, v in enumerate(row)])
        elif isinstance(row, dict):
            missing = [f for f in features if f not in row]
            if missing:
                raise BadRequest(f"row {i}: missing feature(s) {', '.join(missing)}")
            unknown = [k for k in row if k not in feature_set]
            if unknown:
                raise BadRequest(f"row {i}: unknown feature(s) {', '.join(map(str, unknown))}; "
                                 f"expected {', '.join(features)}")
            matrix.append([_number(row[f], i, f) for f in features])
        else:
            raise BadRequest(f"row {i}: expected a list of {width} numbers or an object of features, "
                             f"got {type(row).__name__}")
    try:
        array = np.asarray(matrix, dtype=np.float64)
    except OverflowError:  # an integer too large for a float
        raise BadRequest("every value must be a finite number; an integer is too large") from None
    if np.isinf(array).any():  # 1e999 parses as infinity
        raise BadRequest("every value must be a finite number")
    return array


def _plain(values: np.ndarray) -> list[Any]:
    if values.dtype.kind == "f":
        return [None if math.isnan(v) else v for v in values.tolist()]
    return values.tolist()


def run(raw_data: Any) -> Any:
    """Predict for the rows in ``raw_data`` (a JSON string or an already-parsed object).

    Under Azure ML's own server a ``BadRequest`` is returned as its ``AMLResponse`` with status 400 (that
    server answers every exception with a 500); under ours it is raised and answered 400.
    """
    try:
        return _predict(raw_data)
    except BadRequest as exc:
        aml = sys.modules.get("azureml.contrib.services.aml_response")
        if aml is None:
            raise
        return aml.AMLResponse({"error": str(exc)}, 400, json_str=True)


def _predict(raw_data: Any) -> dict[str, Any]:
    if isinstance(raw_data, bytes | bytearray):
        raw_data = raw_data.decode("utf-8")
    if isinstance(raw_data, str):
        try:
            payload = json.loads(raw_data, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"request body is not JSON: {exc}") from None
    else:
        payload = raw_data
    matrix = _matrix(payload)
    if not np.isnan(matrix).any():
        return {"predictions": _answer(matrix)}
    import sklearn

    with sklearn.config_context(assume_finite=False):  # let the model refuse missing values it cannot take
        try:
            return {"predictions": _answer(matrix)}
        except ValueError as exc:
            rows = sorted({int(i) for i in np.argwhere(np.isnan(matrix))[:, 0]})[:10]
            raise BadRequest(f"row(s) {rows}: this model does not accept missing values (null): {exc}") from None


def _answer(matrix: np.ndarray) -> list[Any]:
    """Each row's prediction, or (``probabilities``) its label beside every label's probability."""
    labels = _plain(np.asarray(model.predict(matrix)))
    if not options.get("probabilities"):
        return labels
    names = [str(c) for c in _plain(np.asarray(model.classes_))]
    return [{"label": label, "probabilities": {n: round(p, 6) for n, p in zip(names, row, strict=True)}}
            for label, row in zip(labels, np.asarray(model.predict_proba(matrix)).tolist(), strict=True)]
