"""What a ``model.yaml`` declares, as frozen dataclasses: ``ModelSpec`` and its sections. ``factory.catalog``
parses and validates the file into them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from contract import ArtifactFormat, DataKind, Task
from factory.rollout.spec import RolloutSpec

SERVING_INPUT_TYPES = ("number", "integer", "boolean")


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


