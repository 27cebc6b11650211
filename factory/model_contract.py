"""A model's contract, proved without training: what ``model-factory check`` finds before any run.

- the sample request (``model/sample-request.json``) against the inputs ``model.yaml`` declares
  (``serving.inputs``: names, types, count);
- the expected response (``model/expected-response.json``) against the task (a label, a number, a label with
  probabilities, boxes) and the request (one prediction per row);
- every gated metric (``gate.metrics``) against what the evaluate step declares it writes
  (``evaluate.metrics``); ``train`` then holds the evaluate step to its declaration (``undeclared_metrics``).

Each problem names the file, the field and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory.model_spec import ModelSpec


@dataclass(frozen=True)
class Problem:
    file: Path
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}" if self.field else f"{self.file}: {self.message}"


def _type_ok(value: Any, declared: str) -> bool:
    if value is None:  # a missing value: the model may or may not take it; serving answers 400 if not
        return True
    if declared == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if declared == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, int | float)


def _shown(value: Any) -> str:
    return repr(value)[:40]


def request_problems(spec: ModelSpec, request: Any) -> list[Problem]:
    """The sample request's rows against ``serving.inputs`` (names, count, types); table models only."""
    file, yaml_file = spec.serving_dir / "sample-request.json", spec.folder / "model.yaml"
    inputs = spec.serving.inputs
    if not inputs:
        return [Problem(yaml_file, "serving.inputs", "not declared; declare the request's features in the model's "
                        "feature order (name: number|integer|boolean) so check can compare the sample request")]
    rows = request.get("data") if isinstance(request, dict) else None
    if not isinstance(rows, list) or not rows:
        return [Problem(file, "data", "expected a non-empty list of rows")]
    names = list(inputs)
    problems: list[Problem] = []
    for i, row in enumerate(rows):
        where = f"data[{i}]"
        if isinstance(row, list):
            if len(row) != len(names):
                problems.append(Problem(file, where, f"expected {len(names)} values ({', '.join(names)}; "
                                        f"serving.inputs in model.yaml), got {len(row)}"))
                continue
            pairs = list(zip(names, row, strict=True))
        elif isinstance(row, dict):
            missing = [n for n in names if n not in row]
            unknown = [str(k) for k in row if k not in inputs]
            if missing:
                problems.append(Problem(file, where, f"missing feature(s) {', '.join(missing)} "
                                        "(serving.inputs in model.yaml)"))
            if unknown:
                problems.append(Problem(file, where, f"unknown feature(s) {', '.join(unknown)}; serving.inputs in "
                                        f"model.yaml declares {', '.join(names)}"))
            pairs = [(n, row[n]) for n in names if n in row]
        else:
            problems.append(Problem(file, where, f"expected a row: a list of {len(names)} values or an object of "
                                    f"features, got {type(row).__name__}"))
            continue
        problems += [Problem(file, f"{where}.{n}", f"expected {inputs[n]} (serving.inputs), got {_shown(v)}")
                     for n, v in pairs if not _type_ok(v, inputs[n])]
    return problems[:10]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _label_problem(spec: ModelSpec, value: Any) -> str | None:
    labels = getattr(spec.data, "labels", None)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return f"expected a label (a class name or number), got {_shown(value)}"
    if labels and str(value) not in labels:
        return f"expected one of data.labels ({', '.join(labels)}), got {_shown(value)}"
    return None


def _prediction_problem(spec: ModelSpec, value: Any) -> str | None:
    """What is wrong with one expected prediction for the model's task, or None."""
    task = spec.task
    if task == "regression":
        return None if _is_number(value) else f"expected a number (regression), got {_shown(value)}"
    if task == "anomaly":
        return None if _is_number(value) else f"expected a number (anomaly: -1 anomaly, 1 normal), got {_shown(value)}"
    if task == "object_detection":
        ok = isinstance(value, dict) and isinstance(value.get("boxes"), list)
        return None if ok else f'expected {{"boxes": [...]}} (object_detection), got {_shown(value)}'
    probabilities = spec.serving.probabilities or spec.data.kind == "images"
    if not probabilities:
        return _label_problem(spec, value)
    if not isinstance(value, dict) or "label" not in value:
        why = " (serving.probabilities: true)" if spec.serving.probabilities else " (image classifiers)"
        return f'expected {{"label": ..., "probabilities": {{...}}}}{why}, got {_shown(value)}'
    if (problem := _label_problem(spec, value["label"])) is not None:
        return f"label: {problem}"
    scores = value.get("probabilities", {})
    if not isinstance(scores, dict) or not all(_is_number(p) and 0 <= p <= 1 for p in scores.values()):
        return f"probabilities: expected an object of label: probability in [0, 1], got {_shown(scores)}"
    return None


def _rows(request: Any) -> Any:
    """The request's rows: ``data`` (table models) or ``input_data.data`` (images, Azure ML's JSON form)."""
    if not isinstance(request, dict):
        return None
    if isinstance(request.get("input_data"), dict):
        return request["input_data"].get("data")
    return request.get("data")


def response_problems(spec: ModelSpec, request: Any, expected: dict[str, Any]) -> list[Problem]:
    """The expected response's shape against the task, and one prediction per request row (table models)."""
    file = spec.serving_dir / "expected-response.json"
    predictions = expected.get("predictions")
    if not isinstance(predictions, list) or not predictions:
        return [Problem(file, "predictions", "expected a non-empty list, one prediction per request row")]
    problems: list[Problem] = []
    rows = _rows(request)
    if isinstance(rows, list) and len(rows) != len(predictions):
        problems.append(Problem(file, "predictions", f"expected one prediction per request row ({len(rows)}), "
                                f"got {len(predictions)}"))
    problems += [Problem(file, f"predictions[{i}]", why) for i, p in enumerate(predictions)
                 if (why := _prediction_problem(spec, p)) is not None]
    return problems[:10]


def metric_problems(spec: ModelSpec) -> list[Problem]:
    """Every gated metric must be one the evaluate step declares it writes (``evaluate.metrics``)."""
    file = spec.folder / "model.yaml"
    written = spec.evaluate_metrics
    if written is None:
        return [Problem(file, "evaluate.metrics", "not declared; list the metrics the evaluate step writes to "
                        f"metrics.json (e.g. [{', '.join(spec.metrics)}]) so check can prove the gate can pass")]
    return [Problem(file, f"gate.metrics.{name}", f"the evaluate step does not write it: evaluate.metrics "
                    f"declares {', '.join(written)}; write it in src/evaluate.py and declare it, or gate on one of "
                    "those") for name in spec.metrics if name not in written]


def undeclared_metrics(spec: ModelSpec, metrics: dict[str, float]) -> tuple[list[str], list[str]]:
    """After a run: (declared in ``evaluate.metrics`` but not written, written but not declared)."""
    declared = spec.evaluate_metrics or ()
    return [m for m in declared if m not in metrics], [m for m in metrics if declared and m not in declared]
