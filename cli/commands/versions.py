"""``model-factory versions MODEL``: the model's local versions (the local MLflow registry) with their metrics,
stage and artifact path; and what ``train`` and ``try`` share: finding a model by name (a broken folder says
why it did not load) and the gate of a version against production, as a table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from cli.table import table
from contract import Champion
from factory.catalog import CatalogError, scan_catalog
from factory.model_spec import ModelSpec
from factory.settings import Settings


def find_model(models_dir: Path, name: str) -> tuple[ModelSpec | None, str]:
    """The model named ``name`` or, when it is not in the catalog, why: ``not loaded: <reason>`` for a folder
    whose model.yaml does not load, ``unknown model`` (with the catalog) when there is no such folder."""
    try:
        catalog, broken = scan_catalog(models_dir)
    except CatalogError as exc:
        return None, str(exc)
    if name in catalog:
        return catalog[name], ""
    if name in broken:
        return None, f"model {name!r} not loaded: {broken[name]}"
    return None, f"unknown model {name!r}; the catalog holds {', '.join(catalog) or 'nothing'}"


def registry(settings: Settings) -> Any:
    from factory.adapters.local.mlflow_registry import MlflowModelRegistry

    return MlflowModelRegistry.from_settings(settings)


def model_and_registry(name: str, models_dir: Path | None) -> tuple[ModelSpec, Any, Settings] | None:
    """What ``versions`` and ``try`` start from: the model (``find_model``), the local model registry and the
    settings; None, after saying why on stderr, when the model is not there."""
    settings = Settings.from_env()
    spec, why = find_model(models_dir or settings.models_dir, name)
    if spec is None:
        print(f"error: {why}", file=sys.stderr)
        return None
    return spec, registry(settings), settings


def mlflow_ui_links(reg: Any, settings: Settings, name: str, version: str, mlflow_run: str) -> tuple[str, str] | None:
    """(the run's page, the version's page) in the MLflow UI serving this store: ``MLFLOW_UI_URL`` or the local
    stack's (its saved port), when it answers for this run; None otherwise."""
    import urllib.request

    from factory.adapters.local.mlflow_registry import ui_run_url, ui_version_url
    from localstack.stack import LocalStack

    ui = settings.env("MLFLOW_UI_URL", "") or f"http://127.0.0.1:{LocalStack(settings.state_dir).ports.mlflow}"
    try:  # the UI serves this store only if it knows this run
        with urllib.request.urlopen(f"{ui.rstrip('/')}/ajax-api/2.0/mlflow/runs/get?run_id={mlflow_run}",
                                    timeout=2) as resp:
            if resp.status != 200:
                return None
    except (OSError, ValueError):
        return None
    experiment = str(reg.client.get_run(mlflow_run).info.experiment_id)
    return ui_run_url(ui, experiment, mlflow_run), ui_version_url(ui, name, version)


def artifact_path(reg: Any, name: str, version: str) -> str:
    """Where a local version's artifact folder is on disk (its ``runs:/<run>/model`` source resolved)."""
    mv = reg.client.get_model_version(name, version)
    source = str(mv.source)
    if source.startswith("runs:/"):
        run_id, _, rel = source.removeprefix("runs:/").partition("/")
        source = f"{reg.client.get_run(run_id).info.artifact_uri.rstrip('/')}/{rel}"
    parsed = urlparse(source)
    return unquote(parsed.path) if parsed.scheme == "file" else source


def _bound(metric: Any) -> str:
    parts = ([f">= {metric.min:g}"] if metric.min is not None else []) + \
        ([f"<= {metric.max:g}"] if metric.max is not None else [])
    return " and ".join(parts) or "-"


def gate_table(spec: ModelSpec, metrics: dict[str, float], champion: Champion | None) -> tuple[bool, str]:
    """(passed, the gate as a table: each gated metric, its value, its bounds, production's value, pass/fail,
    then the verdict's reasons), judged by ``factory.gate.evaluate`` as the factory's gate judges."""
    from factory.gate import evaluate

    result = evaluate(metrics, spec.gate, champion)
    rows = []
    theirs = champion.metrics if champion else {}
    for metric in spec.gate.metrics.values():
        value = metrics.get(metric.name)
        own = [r for r in result.reasons if r.startswith((f"{metric.name} ", f"metric {metric.name} "))]
        prod = theirs.get(metric.name)
        rows.append([metric.name + (" (key)" if metric.name == spec.key_metric else ""),
                     "missing" if value is None else f"{value:.4f}", _bound(metric),
                     "-" if prod is None else f"{prod:.4f}", "FAIL" if own else "pass"])
    against = f"production version {champion.version}" if champion else "no production version"
    lines = [table(["gated metric", "value", "bound", "production", "result"], rows)]
    lines += [f"  - {reason}" for reason in result.reasons]
    lines.append(f"gate: {'PASSED' if result.passed else 'FAILED'} (against {against})")
    return result.passed, "\n".join(lines)


def champion_of(reg: Any, name: str) -> Champion | None:
    found = reg.production(name)
    return None if found is None else Champion(found.version, found.metrics)


def register(subparsers: argparse._SubParsersAction) -> None:
    versions = subparsers.add_parser("versions", help="list a model's local versions: metrics, stage, artifact")
    versions.add_argument("model", help="a model of the catalog")
    versions.add_argument("--models-dir", type=Path, help="default: FACTORY_MODELS_DIR or ./models")
    versions.set_defaults(func=cmd_versions)


def cmd_versions(args: argparse.Namespace) -> int:
    opened = model_and_registry(args.model, args.models_dir)
    if opened is None:
        return 2
    spec, reg, _ = opened
    found = reg.versions(spec.name)
    if not found:
        print(f"{spec.name}: no local versions yet; `model-factory train {spec.name}` registers one")
        return 0
    production = reg.production(spec.name)
    rows = []
    for v in found:
        stage = "Production" if production is not None and production.version == v.version else "-"
        metrics = ", ".join(f"{k}={val:.4f}" for k, val in v.metrics.items())
        rows.append([v.version, stage, v.tags.get("run_id", "-"), metrics, artifact_path(reg, spec.name, v.version)])
    print(table(["version", "stage", "run", "metrics", "artifact"], rows))
    return 0
