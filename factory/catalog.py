"""The model catalog: every ``models/<name>/model.yaml``, parsed into frozen ``ModelSpec`` dataclasses.

A model is a folder of declarations; adding a folder adds a model, with no code change elsewhere. A bad
``model.yaml`` raises ``CatalogError`` naming the file, the field and what was expected. The file's
format is documented in ``docs/adding-a-model.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TASKS = ("regression", "classification", "anomaly")
COLUMN_TYPES = ("number", "integer", "string", "datetime", "boolean")
# The metrics each task's evaluate stage writes, logs to MLflow and tags the model version with.
METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    "regression": ("rmse", "mae", "r2"),
    "classification": ("accuracy", "f1_macro"),
    "anomaly": ("precision", "recall", "f1"),
}
# Metrics where a smaller value is better; every other metric is better when higher.
LOWER_IS_BETTER = frozenset({"rmse", "mae", "mse", "log_loss"})
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class CatalogError(ValueError):
    """A ``model.yaml`` is missing, unreadable or has a bad field; the message names file and field."""


@dataclass(frozen=True)
class ColumnSpec:
    """One column an uploaded CSV must (``required``) or may hold.

    ``type`` is one of ``number``, ``integer``, ``string``, ``datetime`` (ISO 8601), ``boolean``. A required
    column must be in the header and have a value in every row; an optional one may be absent or empty.
    ``aliases`` are other header names accepted for the same column (e.g. the green and yellow taxi files).
    """

    name: str
    type: str
    required: bool = True
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every header name accepted for this column, canonical name first."""
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class DataSchema:
    """What an uploaded CSV must meet before any training: columns, at least ``min_rows`` data rows, at most
    ``max_mb`` megabytes (10^6 bytes). ``sample`` is the model's sample upload (``data/...``), absolute."""

    columns: tuple[ColumnSpec, ...]
    min_rows: int
    max_mb: float
    sample: Path | None = None

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * 1_000_000)


@dataclass(frozen=True)
class Gate:
    """The quality gate a registered version must pass before it is packaged.

    - ``metric``: the primary (key) metric, the one compared with the production version;
    - ``higher_is_better``: its direction (from ``direction: maximize|minimize``; by default ``rmse``/``mae``
      are minimised and every other metric maximised);
    - ``thresholds``: ``{metric: {"min": float | None, "max": float | None}}``, fixed bounds;
    - ``max_regression``: the relative worsening of ``metric`` allowed against production (0.05 = at most
      5 % worse); None = no comparison with production.
    """

    metric: str
    higher_is_better: bool
    thresholds: dict[str, dict[str, float | None]] = field(default_factory=dict)
    max_regression: float | None = None


@dataclass(frozen=True)
class TrainingSettings:
    """How long the factory waits for a training pipeline before it fails the run."""

    timeout_seconds: int = 1800


@dataclass(frozen=True)
class ImageSettings:
    """Where the model's serving image goes: ``repository`` inside the dev/prod registries."""

    repository: str


@dataclass(frozen=True)
class EdgeSettings:
    """The edge smoke test: poll the smoke module's twin every ``poll_seconds`` for up to ``timeout_seconds``;
    ``max_p95_ms`` (optional) is the latency budget: a p95 on the device above it fails the edge stage."""

    poll_seconds: int = 15
    timeout_seconds: int = 1200
    max_p95_ms: float | None = None


@dataclass(frozen=True)
class ApprovalSettings:
    """How long a human has to decide: ``timeout_hours``; None = the app's ``APPROVAL_TIMEOUT_SECONDS``.
    ``approvers``: the identities (App Service Authentication principal names) allowed to decide; empty =
    any holder of the signed link."""

    timeout_hours: float | None = None
    approvers: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    """One model of the catalog, from ``<folder>/model.yaml``."""

    name: str
    description: str
    task: str
    folder: Path
    data: DataSchema
    gate: Gate
    training: TrainingSettings
    image: ImageSettings
    edge: EdgeSettings
    approval: ApprovalSettings = ApprovalSettings()

    @property
    def key_metric(self) -> str:
        """The metric that sums the model up (the gate's primary metric)."""
        return self.gate.metric

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics the model's evaluate stage writes (fixed by its task)."""
        return METRICS_BY_TASK[self.task]

    @property
    def src_dir(self) -> Path:
        return self.folder / "src"

    @property
    def components_dir(self) -> Path:
        return self.folder / "mlops" / "components"

    @property
    def pipeline_file(self) -> Path:
        return self.folder / "mlops" / "pipeline.py"

    @property
    def serving_dir(self) -> Path:
        return self.folder / "model"


class _Fields:
    """Reads typed fields out of one YAML mapping, raising ``CatalogError`` with the file and dotted path."""

    def __init__(self, file: Path, data: Any, path: str = "") -> None:
        self.file, self.path = file, path
        if not isinstance(data, dict):
            self.fail(path or "(top level)", "a mapping", data)
        self.data: dict[str, Any] = data

    def fail(self, key: str, expected: str, got: Any) -> None:
        shown = "nothing" if got is None else repr(got)
        raise CatalogError(f"{self.file}: field {key}: expected {expected}, got {shown}")

    def _key(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, expected: str, default: Any = ..., check: Any = None) -> Any:
        value = self.data.get(key, default)
        if value is ...:
            self.fail(self._key(key), f"{expected} (the field is required)", None)
        if value is not default and check is not None and not check(value):
            self.fail(self._key(key), expected, value)
        return value

    def text(self, key: str, default: Any = ...) -> str:
        return self.get(key, "a non-empty string", default, lambda v: isinstance(v, str) and v.strip() != "")

    def number(self, key: str, default: Any = ..., positive: bool = False) -> float:
        expected = "a positive number" if positive else "a number"
        value = self.get(key, expected, default, lambda v: _is_number(v) and (not positive or v > 0))
        return value if value is None else float(value)

    def integer(self, key: str, default: Any = ...) -> int:
        return self.get(key, "a positive integer", default,
                        lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0)

    def choice(self, key: str, choices: tuple[str, ...], default: Any = ...) -> str:
        return self.get(key, "one of " + ", ".join(choices), default, lambda v: v in choices)

    def section(self, key: str, default: Any = ...) -> _Fields:
        value = self.get(key, "a mapping", default, lambda v: isinstance(v, dict))
        return _Fields(self.file, value, self._key(key))

    def unknown(self, known: set[str]) -> None:
        extra = sorted(set(self.data) - known)
        if extra:
            self.fail(self._key(extra[0]), "one of the fields " + ", ".join(sorted(known)), extra[0])


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _column(file: Path, name: str, raw: Any, path: str) -> ColumnSpec:
    if isinstance(raw, str):  # shorthand: `tripDistance: number`
        raw = {"type": raw}
    f = _Fields(file, raw, f"{path}.{name}")
    f.unknown({"type", "required", "aliases"})
    aliases = f.get("aliases", "a list of column names", [],
                    lambda v: isinstance(v, list) and all(isinstance(a, str) and a for a in v))
    return ColumnSpec(name=name, type=f.choice("type", COLUMN_TYPES),
                      required=f.get("required", "true or false", True, lambda v: isinstance(v, bool)),
                      aliases=tuple(aliases))


def _data(file: Path, f: _Fields, folder: Path) -> DataSchema:
    f.unknown({"columns", "min_rows", "max_mb", "sample"})
    cols = f.section("columns")
    if not cols.data:
        cols.fail(cols.path, "at least one column", cols.data)
    columns = tuple(_column(file, str(name), raw, cols.path) for name, raw in cols.data.items())
    sample = f.text("sample", None)
    sample_path = (folder / sample).resolve() if sample else None
    if sample_path is not None and not sample_path.is_file():
        f.fail(f._key("sample"), f"a file inside {folder}", sample)
    return DataSchema(columns=columns, min_rows=f.integer("min_rows"), max_mb=f.number("max_mb", positive=True),
                      sample=sample_path)


def _gate(f: _Fields, task: str) -> Gate:
    f.unknown({"metric", "direction", "thresholds", "max_regression_vs_production"})
    known = METRICS_BY_TASK[task]
    metric = f.choice("metric", known)
    default_direction = "minimize" if metric in LOWER_IS_BETTER else "maximize"
    direction = f.choice("direction", ("maximize", "minimize"), default_direction)
    thresholds: dict[str, dict[str, float | None]] = {}
    section = f.section("thresholds", {})
    for name in section.data:
        if name not in known:
            section.fail(section._key(str(name)), f"a {task} metric (one of {', '.join(known)})", name)
        bounds = section.section(name)
        bounds.unknown({"min", "max"})
        low, high = bounds.number("min", None), bounds.number("max", None)
        if low is None and high is None:
            bounds.fail(bounds.path, "a min and/or a max", bounds.data)
        thresholds[name] = {"min": low, "max": high}
    max_regression = f.get("max_regression_vs_production", "a fraction between 0 and 1 (0.05 = 5 %)", None,
                           lambda v: _is_number(v) and 0 <= v <= 1)
    return Gate(metric=metric, higher_is_better=direction == "maximize", thresholds=thresholds,
                max_regression=None if max_regression is None else float(max_regression))


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
    f = _Fields(file, raw)
    f.unknown({"name", "description", "task", "data", "gate", "training", "image", "edge", "approval"})
    name = f.get("name", "a lower-case name of letters, digits and _ (e.g. nyc_taxi)", ...,
                 lambda v: isinstance(v, str) and _NAME.match(v) is not None)
    if name != folder.name:
        f.fail("name", f"the folder's name {folder.name!r}", name)
    task = f.choice("task", TASKS)
    training = f.section("training", {})
    training.unknown({"timeout_seconds"})
    image = f.section("image", {})
    image.unknown({"repository"})
    edge = f.section("edge", {})
    edge.unknown({"poll_seconds", "timeout_seconds", "max_p95_ms"})
    approval = f.section("approval", {})
    approval.unknown({"timeout_hours", "approvers"})
    approvers = approval.get("approvers", "a list of principal names (e.g. e-mail addresses)", [],
                             lambda v: isinstance(v, list) and all(isinstance(a, str) and a.strip() for a in v))
    return ModelSpec(
        name=name,
        description=f.text("description"),
        task=task,
        folder=folder,
        data=_data(file, f.section("data"), folder),
        gate=_gate(f.section("gate"), task),
        training=TrainingSettings(timeout_seconds=training.integer("timeout_seconds", 1800)),
        image=ImageSettings(repository=image.text("repository", f"models/{name}")),
        edge=EdgeSettings(poll_seconds=edge.integer("poll_seconds", 15),
                          timeout_seconds=edge.integer("timeout_seconds", 1200),
                          max_p95_ms=edge.number("max_p95_ms", None, positive=True)),
        approval=ApprovalSettings(timeout_hours=approval.number("timeout_hours", None, positive=True),
                                  approvers=tuple(a.strip() for a in approvers)),
    )


def load_catalog(models_dir: Path | str) -> dict[str, ModelSpec]:
    """Every model under ``models_dir`` (each sub-folder holding a ``model.yaml``), by name, sorted."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise CatalogError(f"{models_dir}: no such models folder")
    folders = sorted(p.parent for p in models_dir.glob("*/model.yaml"))
    return {spec.name: spec for spec in map(load_model_spec, folders)}


def metrics_from_tags(tags: dict[str, str]) -> dict[str, float]:
    """A registered version's metrics: its tags named after its task's metrics (the ``task`` tag), as floats."""
    found: dict[str, float] = {}
    for name in METRICS_BY_TASK.get(tags.get("task", ""), ()):
        with contextlib.suppress(KeyError, ValueError):
            found[name] = float(tags[name])
    return found


def training_job_name(model: str, run_id: str) -> str:
    """The job name of a model's training for one factory run: the same for the same run (idempotent submits)
    and safe as an Azure ML job name and a folder name (letters, digits, ``_``, ``-``; at most 100 chars)."""
    safe = _UNSAFE.sub("-", run_id).strip("-") or "run"
    name = f"{model}-{safe}"
    if len(name) > 100 or safe != run_id:
        name = f"{name[:90]}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"
    return name


def build_pipeline_job(spec: ModelSpec, data: Any, run_id: str, **lineage: str | None) -> Any:
    """The model's ``mlops/pipeline.py`` ``training_pipeline`` called with ``data`` (an ``azure.ai.ml.Input``),
    the model name and ``run_id``; returns the ``azure.ai.ml`` ``PipelineJob``. ``lineage``: ``data_uri``,
    ``data_etag``, ``source_commit`` (empty values are left out: the register step's inputs are optional)."""
    file = spec.pipeline_file
    if not file.is_file():
        raise CatalogError(f"{file}: no such file; every model needs mlops/pipeline.py")
    digest = hashlib.sha256(file.read_bytes()).hexdigest()[:12]
    module_spec = importlib.util.spec_from_file_location(f"model_factory_pipeline_{spec.name}_{digest}", file)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    # azure-ai-ml warns once per "experimental" class it touches while building a job; not actionable here
    logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)
    module_spec.loader.exec_module(module)
    pipeline_fn = getattr(module, "training_pipeline", None)
    if pipeline_fn is None:
        raise CatalogError(f"{file}: expected a @dsl.pipeline function named training_pipeline")
    return pipeline_fn(data=data, model_name=spec.name, run_id=run_id, **{k: v for k, v in lineage.items() if v})
