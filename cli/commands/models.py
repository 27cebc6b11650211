"""``model-factory models`` (the catalog) and ``model-factory train <model> [--data PATH]`` (one local
pipeline run in the foreground: validate the data, run each stage with progress, print metrics, the
registered version and its artifact's path, and end with the gate against the local production version;
exit 1 when the gate would fail)."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from cli.table import table
from factory.catalog import CatalogError, scan_catalog
from factory.model_spec import ModelSpec
from factory.ports import TrainingRequest
from factory.settings import Settings
from factory.training_pipeline import training_job_name


def register(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser("models", help="list the model catalog (models/*/model.yaml)")
    models.add_argument("--models-dir", type=Path, help="default: FACTORY_MODELS_DIR or ./models")
    models.set_defaults(func=cmd_models)

    train = subparsers.add_parser("train", help="train one model locally with its pipeline (no factory run); "
                                  "ends with the gate")
    train.add_argument("model", help="a model of the catalog")
    train.add_argument("--data", type=Path, help="a CSV (or a folder of CSVs); default: the model's sample")
    train.add_argument("--run-id", help="the run id the version is tagged with; default: cli-<UTC time>")
    train.add_argument("--models-dir", type=Path, help="default: FACTORY_MODELS_DIR or ./models")
    train.set_defaults(func=cmd_train)


def _settings() -> Settings:
    return Settings.from_env()


def _gate_summary(spec: ModelSpec) -> str:
    parts = []
    for metric in spec.gate.metrics.values():
        if metric.min is not None:
            parts.append(f"{metric.name}>={metric.min:g}")
        if metric.max is not None:
            parts.append(f"{metric.name}<={metric.max:g}")
    allowances = {m.max_regression for m in spec.gate.metrics.values()}
    if len(allowances) == 1 and None not in allowances:
        parts.append(f"≤{allowances.pop():.0%} worse than prod")
    else:
        parts += [f"{m.name} ≤{m.max_regression:.0%} worse than prod" for m in spec.gate.metrics.values()
                  if m.max_regression is not None]
    return ", ".join(parts)


def cmd_models(args: argparse.Namespace) -> int:
    models_dir = args.models_dir or _settings().models_dir
    try:
        catalog, broken = scan_catalog(models_dir)
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, reason in broken.items():  # reported and skipped: the other models still load and run
        print(f"skipped {name}: {reason}", file=sys.stderr)
    rows = []
    for spec in catalog.values():
        arrow = "↑" if spec.gate.higher_is_better else "↓"
        rows.append([spec.name, spec.task, spec.data.kind, spec.artifact.format, f"{spec.key_metric} {arrow}",
                     _gate_summary(spec), spec.description])
    print(table(["model", "task", "data", "artifact", "metric", "gate", "description"], rows))
    return 0


def _data_files(data: Path) -> list[Path]:
    return sorted(data.glob("*.csv")) if data.is_dir() else [data]


def _check_data(spec: ModelSpec, data: Path, state_dir: Path) -> list[object]:
    """The problems of a local upload for the model's ``data.kind`` (a CSV or folder of CSVs; an archive)."""
    if spec.data.kind == "table":
        from factory.validation import validate_csv

        return [e for f in _data_files(data) for e in validate_csv(f, spec, str(f))]
    import tempfile

    from factory.image_validation import validate_image_archive

    (state_dir / "runs").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="validate-", dir=state_dir / "runs") as work:
        return list(validate_image_archive(data, spec, str(data), Path(work) / "extract"))


def cmd_train(args: argparse.Namespace) -> int:
    from cli.commands.versions import find_model
    from factory.adapters.local.pipeline_runner import PipelineError, StepFailed, StepResult, run_pipeline

    settings = _settings()
    spec, why = find_model(args.models_dir or settings.models_dir, args.model)
    if spec is None:
        print(f"error: {why}", file=sys.stderr)
        return 2
    data = (args.data or spec.data.sample)
    if data is None or not Path(data).exists():
        print(f"error: no data: {data or 'give --data PATH (the model has no data.sample)'}", file=sys.stderr)
        return 2
    data = Path(data).resolve()
    errors = _check_data(spec, data, settings.state_dir)
    if errors:
        print(f"{spec.name}: the data is not valid; nothing was trained:", file=sys.stderr)
        for error in errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    run_id = args.run_id or "cli-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    run_dir = settings.state_dir / "training" / training_job_name(spec.name, run_id)
    request = TrainingRequest(model=spec.name, run_id=run_id, data_uri=str(data))
    print(f"{spec.name}: training run {run_id} on {data} (logs in {run_dir / 'logs'})", flush=True)

    def progress(step: StepResult) -> None:
        if step.status == "Running":
            print(f"  {step.name:<11} ...", end="", flush=True)
        else:
            print(f" {step.status.lower()} in {step.seconds:.1f} s", flush=True)

    started = time.perf_counter()
    try:
        result = run_pipeline(spec, request, run_dir, settings.state_dir,
                              tracking_uri=settings.env("MLFLOW_TRACKING_URI", "") or None, on_step=progress)
    except StepFailed as exc:
        print(f"\n{spec.name}: {exc}", file=sys.stderr)
        return 1
    except PipelineError as exc:
        print(f"\n{spec.name}: {exc}", file=sys.stderr)
        return 1
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in result.metrics.items())
    reused = " (already registered by this run id)" if result.registered.reused else ""
    version = result.registered.version
    print(f"{spec.name}: registered version {version}{reused} in {time.perf_counter() - started:.1f} s; {metrics}")
    return _verdict(spec, version, result.metrics, settings, result.mlflow_run_id)


def _verdict(spec: ModelSpec, version: str, metrics: dict[str, float], settings: Settings, mlflow_run: str) -> int:
    """The artifact's path, the evaluate step held to its declaration, and the gate against production, as the
    factory's gate would judge this version; 1 when it would fail."""
    from cli.commands.versions import artifact_path, champion_of, gate_table, mlflow_ui_links, registry
    from factory.model_contract import undeclared_metrics

    reg = registry(settings)
    print(f"  artifact: {artifact_path(reg, spec.name, version)}")
    links = mlflow_ui_links(reg, settings, spec.name, version, mlflow_run)
    if links:
        print(f"  MLflow run {mlflow_run}: {links[0]}\n  model version {version}: {links[1]}")
    else:
        print(f"  MLflow run {mlflow_run} in experiment {spec.name}; to browse it: `model-factory up` (its MLflow "
              f"UI) or mlflow ui --backend-store-uri {reg.tracking_uri}")
    not_written, not_declared = undeclared_metrics(spec, metrics)
    if not_declared:
        print(f"  note: evaluate wrote {', '.join(not_declared)}, which model.yaml evaluate.metrics does not declare")
    champion = champion_of(reg, spec.name)
    if champion is not None and champion.version == version:
        champion = None  # the version is production already: nothing to compare with
    passed, report = gate_table(spec, metrics, champion)
    print(report)
    if not_written:
        print(f"{spec.name}: evaluate did not write {', '.join(not_written)}, which model.yaml evaluate.metrics "
              "declares", file=sys.stderr)
    if not passed:
        print(f"{spec.name}: version {version} would fail the factory's gate; a factory run would stop there",
              file=sys.stderr)
    return 0 if passed and not not_written else 1
