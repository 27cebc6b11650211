"""The model catalog: every ``models/<name>/model.yaml``, parsed into frozen ``ModelSpec`` dataclasses.

A model is a folder of declarations; adding a folder adds a model, with no code change elsewhere. A bad
``model.yaml`` raises ``CatalogError`` naming the file, the field and what was expected. The file's
format is documented in ``docs/adding-a-model.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

from contract import ArtifactFormat, DataKind, Task
from factory.fields import CatalogError as CatalogError  # re-exported: callers catch catalog.CatalogError
from factory.fields import Fields, is_number
from factory.rollout.spec import RolloutSpec, parse_rollout

TASKS = tuple(t.value for t in Task)
DATA_KINDS = tuple(k.value for k in DataKind)
ARTIFACT_FORMATS = tuple(f.value for f in ArtifactFormat)
IMAGE_MODES = ("L", "RGB", "RGBA")

log = logging.getLogger(__name__)
COLUMN_TYPES = ("number", "integer", "string", "datetime", "boolean")
# The tag of a registered version that lists its metric tags (comma-separated names), as the register stage
# writes it: a version carries whatever metrics its evaluate stage wrote, one tag each.
METRICS_TAG = "metrics"
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
_METRIC = re.compile(r"^[A-Za-z][A-Za-z0-9_.@-]{0,62}$")
_MODEL_MARKERS = ("model.yaml", "model.yml", "src", "mlops")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


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
    """``data.kind: table``: what an uploaded CSV must meet before any training: columns, at least
    ``min_rows`` data rows, at most ``max_mb`` megabytes (10^6 bytes). ``sample`` is the model's sample upload
    (``data/...``), absolute."""

    columns: tuple[ColumnSpec, ...]
    min_rows: int
    max_mb: float
    sample: Path | None = None
    kind: DataKind = DataKind.TABLE

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * 1_000_000)


@dataclass(frozen=True)
class ImageSpec:
    """What every image of an upload must be, where the model says so (None = any)."""

    width: int | None = None
    height: int | None = None
    mode: str | None = None  # a Pillow mode: L, RGB, RGBA


@dataclass(frozen=True)
class ImageDataSchema:
    """``data.kind: images``: an upload is one ``.zip`` or ``.tar.gz``.

    Classification (``annotations`` unset): an ImageFolder, ``<label>/<name>.png|jpg``. Detection: the images
    plus the JSONL member ``annotations`` in Azure ML's image format. ``max_mb`` bounds the archive,
    ``max_members`` / ``max_uncompressed_mb`` what it unpacks to; ``labels`` the allowed labels;
    ``min_per_label`` the images (classification) or boxes (detection) each label needs.
    """

    labels: tuple[str, ...]
    max_mb: float
    max_members: int
    max_uncompressed_mb: float
    min_per_label: int = 1
    image: ImageSpec = ImageSpec()
    annotations: str | None = None
    sample: Path | None = None
    kind: DataKind = DataKind.IMAGES

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * 1_000_000)

    @property
    def max_uncompressed_bytes(self) -> int:
        return int(self.max_uncompressed_mb * 1_000_000)


@dataclass(frozen=True)
class ArtifactSettings:
    """The trained artifact: its ``format`` (``joblib`` or ``onnx``), which the scoring server loads; for
    ONNX, ``fp16_tolerance`` (optional): the fp16 conversion is kept only if the key metric is at most this
    much worse than the fp32 model's, otherwise the fp32 model is kept."""

    format: ArtifactFormat = ArtifactFormat.JOBLIB
    fp16_tolerance: float | None = None


@dataclass(frozen=True)
class GatedMetric:
    """One metric the gate checks, as ``model.yaml`` declares it under ``gate.metrics``.

    ``higher_is_better`` from ``direction: maximize|minimize`` (required: the factory knows no metric names);
    ``min``/``max`` fixed bounds (optional); ``max_regression`` the relative worsening allowed against the
    production version in the metric's direction (0.05 = at most 5 % worse; None = not compared).
    """

    name: str
    higher_is_better: bool
    min: float | None = None
    max: float | None = None
    max_regression: float | None = None


@dataclass(frozen=True)
class Gate:
    """The quality gate a registered version must pass before it is packaged: every gated metric within its
    bounds and no worse than production beyond its allowance. ``metric`` is the key metric (one of them)."""

    metric: str
    metrics: dict[str, GatedMetric] = field(default_factory=dict[str, GatedMetric])

    @property
    def key(self) -> GatedMetric:
        return self.metrics[self.metric]

    @property
    def higher_is_better(self) -> bool:
        """The key metric's direction."""
        return self.key.higher_is_better

    @property
    def thresholds(self) -> dict[str, dict[str, float | None]]:
        """``{metric: {"min", "max"}}`` of the gated metrics that have bounds."""
        return {m.name: {"min": m.min, "max": m.max} for m in self.metrics.values()
                if m.min is not None or m.max is not None}


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


SERVING_INPUT_TYPES = ("number", "integer", "boolean")


@dataclass(frozen=True)
class ServingSettings:
    """What the serving image answers. ``inputs``: a table model's request features (name -> type, in
    ``model.json``'s ``features`` order; empty = not declared); ``probabilities``: a classifier answers
    ``{"label", "probabilities": {label: p}}`` per row instead of the bare label."""

    inputs: dict[str, str] = field(default_factory=dict[str, str])
    probabilities: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """One model of the catalog, from ``<folder>/model.yaml``."""

    name: str
    description: str
    task: Task
    folder: Path
    data: DataSchema | ImageDataSchema
    gate: Gate
    training: TrainingSettings
    image: ImageSettings
    edge: EdgeSettings
    approval: ApprovalSettings = ApprovalSettings()
    artifact: ArtifactSettings = ArtifactSettings()
    environment: str = "sklearn"  # the kit environment: modelkit/environments/<name>/
    serving: ServingSettings = ServingSettings()
    evaluate_metrics: tuple[str, ...] | None = None  # model.yaml evaluate.metrics: what evaluate writes
    rollout: RolloutSpec | None = None  # the staged fleet rollout after promote; None: the run ends at promote

    @property
    def key_metric(self) -> str:
        """The metric that sums the model up (the gate's primary metric)."""
        return self.gate.metric

    @property
    def metrics(self) -> tuple[str, ...]:
        """The gated metrics ``model.yaml`` declares (the evaluate stage may write more)."""
        return tuple(self.gate.metrics)

    @property
    def src_dir(self) -> Path:
        return self.folder / "src"

    @property
    def components_dir(self) -> Path:
        return self.folder / "mlops" / "components"

    @property
    def pipeline_file(self) -> Path:
        """The model's own pipeline wiring; when absent the kit's standard pipeline is used."""
        return self.folder / "mlops" / "pipeline.py"

    @property
    def serving_dir(self) -> Path:
        return self.folder / "model"


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


def metrics_from_tags(tags: dict[str, str]) -> dict[str, float]:
    """A registered version's metrics: the tags its ``metrics`` tag names (``"accuracy,f1_macro"``), as floats.
    Names the tag lists but that are missing or not numbers are left out (the gate then says it is missing)."""
    found: dict[str, float] = {}
    for name in filter(None, (n.strip() for n in tags.get(METRICS_TAG, "").split(","))):
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


def _load_module(file: Path, prefix: str) -> Any:
    digest = hashlib.sha256(file.read_bytes()).hexdigest()[:12]
    module_spec = importlib.util.spec_from_file_location(f"{prefix}_{digest}", file)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    # azure-ai-ml warns once per "experimental" class it touches while building a job; not actionable here
    logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)
    module_spec.loader.exec_module(module)
    return module


def training_pipeline_of(spec: ModelSpec) -> Any:
    """The model's ``@dsl.pipeline`` function: ``training_pipeline`` of its ``mlops/pipeline.py``, or the kit's
    standard wiring (``modelkit/pipeline.py``) when the model has none."""
    file = spec.pipeline_file
    if not file.is_file():
        from factory.kit import STANDARD_PIPELINE

        module = _load_module(STANDARD_PIPELINE, "model_factory_standard_pipeline")
        if spec.artifact.format == "onnx":
            return module.standard_pipeline(spec.folder, spec.name, spec.description, onnx=True,
                                            fp16_tolerance=spec.artifact.fp16_tolerance, key_metric=spec.key_metric)
        return module.standard_pipeline(spec.folder, spec.name, spec.description)
    pipeline_fn = getattr(_load_module(file, f"model_factory_pipeline_{spec.name}"), "training_pipeline", None)
    if pipeline_fn is None:
        raise CatalogError(f"{file}: expected a @dsl.pipeline function named training_pipeline")
    if "data_sha256" not in inspect.signature(pipeline_fn).parameters:
        raise CatalogError(f"{file}: training_pipeline takes no data_sha256; every pipeline starts with the kit's "
                           "verify_data stage on it (the hash of the validated data), as modelkit/pipeline.py does")
    return pipeline_fn


def build_pipeline_job(spec: ModelSpec, data: Any, run_id: str, **lineage: str | None) -> Any:
    """The model's training pipeline (``training_pipeline_of``) called with ``data`` (an ``azure.ai.ml.Input``),
    the model name and ``run_id``; returns the ``azure.ai.ml`` ``PipelineJob``. ``lineage``: ``data_uri``,
    ``data_etag``, ``data_sha256``, ``source_commit`` (empty values are left out: those inputs are optional)."""
    pipeline_fn = training_pipeline_of(spec)
    return pipeline_fn(data=data, model_name=spec.name, run_id=run_id, **{k: v for k, v in lineage.items() if v})
