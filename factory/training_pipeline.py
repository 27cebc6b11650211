"""A model's Azure ML training pipeline: its ``@dsl.pipeline`` function (the model's ``mlops/pipeline.py`` or the
kit's standard wiring), the pipeline job built from it for one run, the job's name, and the metrics a registered
version carries in its tags."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import logging
import re
from pathlib import Path
from typing import Any

from factory.catalog import CatalogError
from factory.model_spec import ModelSpec

# The tag of a registered version that lists its metric tags (comma-separated names), as the register stage
# writes it: a version carries whatever metrics its evaluate stage wrote, one tag each.
METRICS_TAG = "metrics"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


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
