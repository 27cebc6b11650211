"""The model catalog: every ``models/<name>/model.yaml``, parsed into frozen ``ModelSpec`` dataclasses.

A model is a folder of declarations; adding a folder adds a model, with no code change elsewhere. A bad
``model.yaml`` raises ``CatalogError`` naming the file, the field and what was expected. The file's
format is documented in ``docs/adding-a-model.md``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, cast

import yaml

from contract import ArtifactFormat, DataKind, Task
from factory.fields import CatalogError as CatalogError  # re-exported: callers catch catalog.CatalogError
from factory.fields import Fields, is_number
from factory.model_spec import (
    SERVING_INPUT_TYPES,
    ApprovalSettings,
    ArtifactSettings,
    ColumnSpec,
    DataSchema,
    EdgeSettings,
    Gate,
    GatedMetric,
    ImageDataSchema,
    ImageSettings,
    ImageSpec,
    ModelSpec,
    ServingSettings,
    TrainingSettings,
)
from factory.rollout.spec import parse_rollout

TASKS = tuple(t.value for t in Task)
DATA_KINDS = tuple(k.value for k in DataKind)
ARTIFACT_FORMATS = tuple(f.value for f in ArtifactFormat)
IMAGE_MODES = ("L", "RGB", "RGBA")

log = logging.getLogger(__name__)
COLUMN_TYPES = ("number", "integer", "string", "datetime", "boolean")
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
_METRIC = re.compile(r"^[A-Za-z][A-Za-z0-9_.@-]{0,62}$")
_MODEL_MARKERS = ("model.yaml", "model.yml", "src", "mlops")


def _column(file: Path, name: str, raw: Any, path: str) -> ColumnSpec:
    if isinstance(raw, str):  # shorthand: `tripDistance: number`
        raw = {"type": raw}
    f = Fields(file, raw, f"{path}.{name}")
    f.unknown({"type", "required", "aliases"})
    aliases = f.get("aliases", "a list of column names", [],
                    lambda v: isinstance(v, list) and all(isinstance(a, str) and a for a in cast(list[Any], v)))
    return ColumnSpec(name=name, type=f.choice("type", COLUMN_TYPES),
                      required=f.get("required", "true or false", True, lambda v: isinstance(v, bool)),
                      aliases=tuple(aliases))


def _sample(f: Fields, folder: Path) -> Path | None:
    sample = f.text("sample", None)
    sample_path = (folder / sample).resolve() if sample else None
    if sample_path is not None and not sample_path.is_file():
        f.fail(f.key("sample"), f"a file inside {folder}", sample)
    return sample_path


def _table_data(file: Path, f: Fields, folder: Path) -> DataSchema:
    f.unknown({"kind", "columns", "min_rows", "max_mb", "sample"})
    cols = f.section("columns")
    if not cols.data:
        cols.fail(cols.path, "at least one column", cols.data)
    columns = tuple(_column(file, str(name), raw, cols.path) for name, raw in cols.data.items())
    return DataSchema(columns=columns, min_rows=f.integer("min_rows"), max_mb=f.number("max_mb", positive=True),
                      sample=_sample(f, folder))


def _distinct_labels(labels: list[Any]) -> bool:
    return bool(labels) and len({str(x) for x in labels}) == len(labels) and all(
        isinstance(x, str | int) and not isinstance(x, bool) and str(x).strip() for x in labels)


def _image_data(f: Fields, folder: Path) -> ImageDataSchema:
    f.unknown({"kind", "labels", "max_mb", "max_members", "max_uncompressed_mb", "min_per_label", "image",
               "annotations", "sample"})
    labels = f.get("labels", "a list of distinct labels (names or integers)", ...,
                   lambda v: _distinct_labels(cast(list[Any], v)) if isinstance(v, list) else False)
    image = f.section("image", {})
    image.unknown({"width", "height", "mode"})
    annotations = f.get("annotations", "the name of a .jsonl member of the archive", None,
                        lambda v: isinstance(v, str) and v.endswith(".jsonl") and "/" not in v and ".." not in v)
    return ImageDataSchema(
        labels=tuple(str(x) for x in labels), max_mb=f.number("max_mb", positive=True),
        max_members=f.integer("max_members"), max_uncompressed_mb=f.number("max_uncompressed_mb", positive=True),
        min_per_label=f.integer("min_per_label", 1),
        image=ImageSpec(width=image.optional_integer("width"), height=image.optional_integer("height"),
                        mode=image.choice("mode", IMAGE_MODES, None)),
        annotations=annotations, sample=_sample(f, folder))


def _data(file: Path, f: Fields, folder: Path) -> DataSchema | ImageDataSchema:
    kind = DataKind(f.choice("kind", DATA_KINDS, DataKind.TABLE.value))
    return _image_data(f, folder) if kind is DataKind.IMAGES else _table_data(file, f, folder)


_FRACTION = "a fraction between 0 and 1 (0.05 = 5 %)"


def _fraction(f: Fields, key: str, default: float | None) -> float | None:
    value = f.get(key, _FRACTION, default, lambda v: is_number(v) and 0 <= v <= 1)
    return None if value is None else float(value)


def _gate(f: Fields) -> Gate:
    f.unknown({"metric", "metrics", "max_regression_vs_production"})
    default_regression = _fraction(f, "max_regression_vs_production", None)
    section = f.section("metrics")
    if not section.data:
        section.fail(section.path, "at least one gated metric, e.g. rmse: {direction: minimize, max: 6}", None)
    metrics: dict[str, GatedMetric] = {}
    names: list[Any] = list(section.data)  # YAML keys may be numbers
    for name in names:
        if not isinstance(name, str) or not _METRIC.match(name):
            section.fail(section.key(str(name)), "a metric name (letters, digits, _ . @ -)", name)
        bounds = section.section(name)
        bounds.unknown({"direction", "min", "max", "max_regression_vs_production"})
        direction = bounds.choice("direction", ("maximize", "minimize"))
        metrics[name] = GatedMetric(name=name, higher_is_better=direction == "maximize",
                                    min=bounds.optional_number("min"), max=bounds.optional_number("max"),
                                    max_regression=_fraction(bounds, "max_regression_vs_production",
                                                             default_regression))
    metric = f.choice("metric", tuple(metrics))
    return Gate(metric=metric, metrics=metrics)


def _serving(f: Fields, task: str) -> ServingSettings:
    f.unknown({"inputs", "probabilities"})
    inputs = f.section("inputs", {})
    types = {str(name): inputs.choice(str(name), SERVING_INPUT_TYPES) for name in inputs.data}
    probabilities = f.get("probabilities", "true or false", False, lambda v: isinstance(v, bool))
    if probabilities and task != "classification":
        f.fail(f.key("probabilities"), "probabilities only for task classification", probabilities)
    return ServingSettings(inputs=types, probabilities=probabilities)


def _evaluate_metrics(f: Fields) -> tuple[str, ...] | None:
    f.unknown({"metrics"})
    names = f.get("metrics", "a list of metric names (what the evaluate step writes to metrics.json)", None,
                  lambda v: isinstance(v, list) and bool(cast(list[Any], v))
                  and all(isinstance(n, str) and _METRIC.match(n) for n in cast(list[Any], v)))
    return None if names is None else tuple(str(n) for n in cast(list[Any], names))


def _artifact(f: Fields) -> ArtifactSettings:
    f.unknown({"format", "fp16_tolerance"})
    fmt = ArtifactFormat(f.choice("format", ARTIFACT_FORMATS, ArtifactFormat.JOBLIB.value))
    tolerance = _fraction(f, "fp16_tolerance", None)
    if tolerance is not None and fmt != "onnx":
        f.fail(f.key("fp16_tolerance"), "no fp16_tolerance unless format is onnx", tolerance)
    return ArtifactSettings(format=fmt, fp16_tolerance=tolerance)


def load_model_spec(folder: Path | str) -> ModelSpec:
    """Parse ``<folder>/model.yaml``; raises ``CatalogError`` naming the file and the bad field."""
    folder = Path(folder).resolve()
    file = folder / "model.yaml"
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{file}: no such file; every model folder needs a model.yaml") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{file}: not valid YAML: {exc}") from None
    f = Fields(file, raw)
    f.unknown({"name", "description", "task", "environment", "data", "artifact", "gate", "training", "image", "edge",
               "approval", "serving", "evaluate", "rollout"})
    name = f.get("name", "a lower-case name of letters, digits and _ (e.g. nyc_taxi)", ...,
                 lambda v: isinstance(v, str) and _NAME.match(v) is not None)
    if name != folder.name:
        f.fail("name", f"the folder's name {folder.name!r}", name)
    task = Task(f.choice("task", TASKS))
    data = _data(file, f.section("data"), folder)
    if task == "object_detection" and (not isinstance(data, ImageDataSchema) or not data.annotations):
        f.fail("data.annotations", "an annotations file (object_detection learns from data.kind images "
               "with JSONL annotations)", None)
    training = f.section("training", {})
    training.unknown({"timeout_seconds"})
    image = f.section("image", {})
    image.unknown({"repository"})
    edge = f.section("edge", {})
    edge.unknown({"poll_seconds", "timeout_seconds", "max_p95_ms"})
    approval = f.section("approval", {})
    approval.unknown({"timeout_hours", "approvers"})
    approvers = approval.get("approvers", "a list of principal names (e.g. e-mail addresses)", [],
                             lambda v: isinstance(v, list)
                             and all(isinstance(a, str) and a.strip() for a in cast(list[Any], v)))
    return ModelSpec(
        name=name,
        description=f.text("description"),
        task=task,
        folder=folder,
        data=data,
        gate=_gate(f.section("gate")),
        training=TrainingSettings(timeout_seconds=training.integer("timeout_seconds", 1800)),
        image=ImageSettings(repository=image.text("repository", f"models/{name}")),
        edge=EdgeSettings(poll_seconds=edge.integer("poll_seconds", 15),
                          timeout_seconds=edge.integer("timeout_seconds", 1200),
                          max_p95_ms=edge.optional_number("max_p95_ms", positive=True)),
        approval=ApprovalSettings(timeout_hours=approval.optional_number("timeout_hours", positive=True),
                                  approvers=tuple(a.strip() for a in approvers)),
        artifact=_artifact(f.section("artifact", {})),
        environment=_environment(f),
        serving=_serving(f.section("serving", {}), task),
        evaluate_metrics=_evaluate_metrics(f.section("evaluate", {})),
        rollout=parse_rollout(f.section("rollout")) if "rollout" in f.data else None,
    )


def _environment(f: Fields) -> str:
    from factory.kit import DEFAULT_ENVIRONMENT, ENVIRONMENTS

    known = tuple(sorted(p.name for p in ENVIRONMENTS.iterdir() if (p / "conda.yml").is_file()))
    return f.choice("environment", known, DEFAULT_ENVIRONMENT)


def scan_catalog(models_dir: Path | str) -> tuple[dict[str, ModelSpec], dict[str, str]]:
    """Every model under ``models_dir`` that loads, by name (sorted), and every folder that does not, by folder
    name, with the reason (``CatalogError``'s message: the file and the field). A model folder is one holding
    a ``model.yaml``, or (then reported as missing it) a ``model.yml``, ``src/`` or ``mlops/``."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise CatalogError(f"{models_dir}: no such models folder")
    good: dict[str, ModelSpec] = {}
    broken: dict[str, str] = {}
    for folder in sorted(p for p in models_dir.iterdir() if p.is_dir()):
        if folder.name.startswith((".", "_")) or not any((folder / n).exists() for n in _MODEL_MARKERS):
            continue
        try:
            spec = load_model_spec(folder)
        except CatalogError as exc:
            broken[folder.name] = str(exc)
            continue
        good[spec.name] = spec
    return good, broken


def load_catalog(models_dir: Path | str) -> dict[str, ModelSpec]:
    """Every model under ``models_dir`` that loads, by name, sorted. A broken folder is logged (its file and
    field) and skipped: the other models load and run (``scan_catalog`` also returns the broken ones)."""
    good, broken = scan_catalog(models_dir)
    for name, reason in broken.items():
        log.error("model folder %s skipped: %s", name, reason)
    return good
