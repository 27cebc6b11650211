"""Runs a model's Azure ML pipeline on this machine: the same component YAMLs and ``@dsl.pipeline`` graph.

``load_plan`` (``pipeline_plan``) reads the steps from the pipeline job. ``run_pipeline`` resolves every
``${{inputs.*}}`` / ``${{outputs.*}}`` (and optional ``$[[...]]`` blocks) to local paths and values, makes
each step's code snapshot as Azure ML does (the code folder plus its ``additional_includes``, under
``RUN_DIR/snapshots/<step>/``), runs the command there as a subprocess with the python of the environment
the component declares (``environments``: a venv per conda file, built once and reused), keeps a log per step,
and stops at the first failing step (``StepFailed``: step name, exit code, last log lines). Every step of
one run shares one MLflow run (``MLFLOW_RUN_ID``) in the model's experiment, as Azure ML does per step.

``python -m factory.adapters.local.pipeline_runner RUN_DIR`` is the detached process the local trainer
starts: it runs ``RUN_DIR/request.json``, writes ``RUN_DIR/status.json`` as it goes and publishes the
Event Grid events (``ModelRegistered``, or ``RunStatusChanged`` Failed) with retries.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contract import Registration
from factory import events
from factory.adapters.local.environments import env_root, python_for
from factory.adapters.local.host import file_lock
from factory.adapters.local.pipeline_plan import (  # noqa: F401 - Step, load_plan, output_dir: the runner's API
    PipelineError,
    Plan,
    Step,
    load_plan,
    output_dir,
    prepare_outputs,
    read_output_json,
    read_registration,
    resolve_command,
)
from factory.catalog import load_model_spec
from factory.kit import KitError, snapshot
from factory.model_spec import ModelSpec
from factory.ports import BlobNotFound, TrainingRequest

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 20
DATA_COPY = "data"  # the run's downloaded data under its run folder: removed when the run ends


class StepFailed(PipelineError):
    """A step exited non-zero; carries its name, exit code and the last lines of its log."""

    def __init__(self, step: str, exit_code: int, log_tail: str, log_file: Path) -> None:
        super().__init__(f"step {step} failed with exit code {exit_code}; last log lines:\n{log_tail}")
        self.step, self.exit_code, self.log_tail, self.log_file = step, exit_code, log_tail, log_file


@dataclass
class StepResult:
    name: str
    status: str  # Running | Completed | Failed
    seconds: float = 0.0
    exit_code: int | None = None
    log: str = ""


@dataclass
class PipelineResult:
    """What one local pipeline run produced."""

    model: str
    run_id: str
    steps: list[StepResult]
    registered: Registration  # registered.json
    metrics: dict[str, float]
    mlflow_run_id: str
    seconds: float


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def gone_message(uri: str, run_id: str = "RUN") -> str:
    """What a run says when its data (the pinned copy of the validated bytes) is gone from the blob store."""
    return (f"the run's data {uri} is gone from the blob store (deleted after validation; locally, with the copy the "
            "stack keeps in its state folder's pins/); nothing was trained. `model-factory retry "
            f"{run_id}` starts the run again from its upload")


def fetch_data(uri: str, dest_dir: Path, blob_store: Any | None, run_id: str = "RUN") -> Path:
    """A local path for the run's data: the path itself, or a blob/HTTP URL downloaded with ``blob_store``."""
    if uri.startswith(("http://", "https://")):
        if blob_store is None:
            raise PipelineError(f"data {uri} is a URL but no blob store is configured to download it")
        dest_dir.mkdir(parents=True, exist_ok=True)
        name = Path(uri.split("?", 1)[0]).name or "data.csv"
        try:
            return Path(blob_store.download(uri, dest_dir / name))
        except BlobNotFound:
            raise PipelineError(gone_message(uri, run_id)) from None
    path = Path(uri.removeprefix("file://")).resolve()
    if not path.exists():
        raise PipelineError(f"data {uri}: no such file or folder")
    return path


def source_commit_of(folder: Path) -> str:
    """The git commit the model folder is checked out at ("" outside a git work tree or without git)."""
    try:
        done = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=False)
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def start_mlflow_run(spec: ModelSpec, request: TrainingRequest, state_dir: Path, tracking_uri: str) -> str:
    """Create the MLflow run every step of one pipeline run logs to (in the model's experiment); its id."""
    from mlflow import MlflowClient

    from factory.adapters.local.mlflow_registry import ensure_experiment

    experiment_id = ensure_experiment(tracking_uri, state_dir, spec.name)
    client = MlflowClient(tracking_uri=tracking_uri)
    run = client.create_run(experiment_id, run_name=f"{spec.name}-{request.run_id}",
                            tags={"factory.run_id": request.run_id, "factory.data_uri": request.data_uri})
    return run.info.run_id


def _end_mlflow_run(tracking_uri: str, mlflow_run_id: str, status: str) -> None:
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=tracking_uri).set_terminated(mlflow_run_id, status=status)


def run_pipeline(spec: ModelSpec, request: TrainingRequest, run_dir: Path, state_dir: Path, *,
                 tracking_uri: str | None = None, blob_store: Any | None = None, mlflow_run_id: str | None = None,
                 on_step: Callable[[StepResult], None] | None = None) -> PipelineResult:
    """Run the model's pipeline for one request in ``run_dir``; raises ``StepFailed`` at the first failing
    step. ``on_step`` is called when a step starts and when it ends (progress). ``mlflow_run_id``: the
    MLflow run the steps log to, when the caller made it already (else one is made here). The downloaded
    copy of the data (``run_dir/data``) is removed when the run ends, whatever the outcome: the lineage keeps
    its URI, ETag and sha256; step outputs, logs and status stay."""
    try:
        return _run_pipeline(spec, request, run_dir, state_dir, tracking_uri=tracking_uri, blob_store=blob_store,
                             mlflow_run_id=mlflow_run_id, on_step=on_step)
    finally:
        shutil.rmtree(run_dir / DATA_COPY, ignore_errors=True)


def _run_pipeline(spec: ModelSpec, request: TrainingRequest, run_dir: Path, state_dir: Path, *,
                  tracking_uri: str | None, blob_store: Any | None, mlflow_run_id: str | None,
                  on_step: Callable[[StepResult], None] | None) -> PipelineResult:
    from factory.adapters.local.mlflow_registry import default_tracking_uri

    started = time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    tracking_uri = tracking_uri or default_tracking_uri(state_dir)
    data = fetch_data(request.data_uri, run_dir / DATA_COPY, blob_store, request.run_id)
    if request.data_sha256:  # the factory pinned the validated bytes: train on those or not at all
        from factory.pinning import DataRefused, check_pinned

        try:
            check_pinned(data, request.data_sha256)
        except DataRefused as refused:
            raise PipelineError(str(refused)) from None
    plan = load_plan(spec, cache_dir=Path(state_dir) / "plans")
    mlflow_run_id = mlflow_run_id or start_mlflow_run(spec, request, Path(state_dir), tracking_uri)
    inputs: dict[str, str | None] = {"data": str(data), "model_name": spec.name, "run_id": request.run_id,
                                     "data_uri": request.data_uri, "data_etag": request.data_etag or None,
                                     "data_sha256": request.data_sha256 or None,
                                     "source_commit": request.source_commit or source_commit_of(spec.folder) or None}
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_RUN_ID": mlflow_run_id,
           "PYTHONUNBUFFERED": "1", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    results: list[StepResult] = []
    producers = {s.name: s for s in plan.steps}
    try:
        for step in plan.steps:
            prepare_outputs(run_dir, step)
            log_file = run_dir / "logs" / f"{step.name}.log"
            log_file.parent.mkdir(parents=True, exist_ok=True)
            result = StepResult(name=step.name, status="Running", log=str(log_file))
            results.append(result)
            if on_step:
                on_step(result)
            step_started = time.perf_counter()
            try:  # the step's environment (built once per spec), its code snapshot and its command
                python, env_note = python_for(step.environment, f"{step.component_file}: step {step.name}",
                                              env_root(env))
                argv = resolve_command(step, inputs, run_dir, producers, python=python)
                code_dir = _snapshot(step, run_dir)
            except PipelineError as exc:
                log_file.write_text(f"{exc}\n", encoding="utf-8")
                result.status, result.seconds = "Failed", time.perf_counter() - step_started
                if on_step:
                    on_step(result)
                raise
            with log_file.open("w", encoding="utf-8") as out:
                out.write(f"{env_note}\n$ {shlex.join(argv)}\n")
                out.flush()
                code = subprocess.call(argv, cwd=code_dir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
            result.seconds = time.perf_counter() - step_started
            result.exit_code = code
            result.status = "Completed" if code == 0 else "Failed"
            if on_step:
                on_step(result)
            if code != 0:
                raise StepFailed(step.name, code, _tail(log_file), log_file)
        registered = read_registration(plan, run_dir)  # a shape it cannot be fails the MLflow run too
        metrics = read_output_json(plan, run_dir, "metrics", "metrics.json")
    except BaseException:
        _end_mlflow_run(tracking_uri, mlflow_run_id, "FAILED")
        raise
    _end_mlflow_run(tracking_uri, mlflow_run_id, "FINISHED")
    return PipelineResult(model=spec.name, run_id=request.run_id, steps=results, registered=registered,
                          metrics=metrics, mlflow_run_id=mlflow_run_id, seconds=time.perf_counter() - started)


def _snapshot(step: Step, run_dir: Path) -> Path:
    """The step's code snapshot: its code folder with its additional includes (made anew for each run)."""
    dest = run_dir / "snapshots" / step.name
    if dest.exists():
        shutil.rmtree(dest)
    try:
        return snapshot(Path(step.code_dir), [Path(i) for i in step.includes], dest)
    except KitError as exc:
        raise PipelineError(f"{step.component_file}: step {step.name}: {exc}") from None


# --- the detached run: status file, lock, events -------------------------------------------------------------

STATUS_FILE = "status.json"
REQUEST_FILE = "request.json"
RUNNER_LOCK = "runner.lock"
EVENT_FILE = "event.json"  # the outcome event and whether the endpoint accepted it


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically (readers never see half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def runner_lock(run_dir: Path, blocking: bool = False) -> contextlib.AbstractContextManager[bool]:
    """Held by the process running ``run_dir`` for its whole life; yields False when another holds it."""
    return file_lock(run_dir / RUNNER_LOCK, blocking)


def publish_with_retry(event: dict[str, Any], endpoint: str, retry_seconds: float = 300.0,
                       interval: float = 2.0) -> bool:
    """Publish one event, retrying every ``interval`` s for up to ``retry_seconds`` while the endpoint is down
    (the host may be restarting). No endpoint: nothing is sent, False. Raises the last error when it gives up."""
    if not endpoint:
        return False
    deadline = time.monotonic() + retry_seconds
    while True:
        try:
            return events.publish([event], endpoint)
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise
            log.warning("publishing %s to %s failed (%s); retrying in %.0f s", event["eventType"], endpoint, exc,
                        interval)
            time.sleep(interval)


def _warm_mlflow(tracking_uri: str, mlflow_run_id: str) -> None:
    """Import MLflow and open its store while the steps run, so ending the run at the end is instant."""
    try:
        from mlflow import MlflowClient

        MlflowClient(tracking_uri=tracking_uri).get_run(mlflow_run_id)
    except Exception:  # noqa: BLE001, S110 - only a warm-up: ending the run reports any real problem
        pass


def execute_run_dir(run_dir: Path, blob_store: Any | None = None) -> dict[str, Any]:
    """Run the request in ``run_dir`` (written by the local trainer), keeping ``status.json`` current, then
    publish the outcome. Returns the final status. A second runner on the same folder waits for the first
    and returns its outcome without running anything, except publishing it again if it was never delivered."""
    with runner_lock(run_dir, blocking=True):
        status = read_json(run_dir / STATUS_FILE)
        req = read_json(run_dir / REQUEST_FILE)
        if status.get("status") in ("Completed", "Failed"):
            if event_undelivered(run_dir):
                note = read_json(run_dir / EVENT_FILE)
                _publish(note["payload"], req.get("eventgrid_endpoint", ""),
                         float(req.get("publish_retry_seconds", 300)), run_dir)
            return status
        if req.get("mlflow_run_id"):  # made by the trainer: open MLflow (to end the run) off the critical path
            threading.Thread(target=_warm_mlflow, args=(req["tracking_uri"], req["mlflow_run_id"]), daemon=True).start()
        request = TrainingRequest.from_dict(req["request"])
        state_dir, endpoint = Path(req["state_dir"]), req.get("eventgrid_endpoint", "")
        retry_seconds = float(req.get("publish_retry_seconds", 300))
        status.update(status="Running", started=now(), steps=[], pid=os.getpid())
        write_json(run_dir / STATUS_FILE, status)

        def progress(step: StepResult) -> None:
            steps = [s for s in status["steps"] if s["name"] != step.name] + [asdict(step)]
            status.update(step=step.name, steps=steps)
            write_json(run_dir / STATUS_FILE, status)

        try:
            spec = load_model_spec(req["model_folder"])
            if blob_store is None and request.data_uri.startswith(("http://", "https://")):
                from factory.backends import Services
                from factory.settings import Settings

                blob_store = Services(Settings.from_env()).blob_store
            result = run_pipeline(spec, request, run_dir, state_dir, tracking_uri=req.get("tracking_uri"),
                                  blob_store=blob_store, mlflow_run_id=req.get("mlflow_run_id"), on_step=progress)
        except Exception as exc:  # every failure ends as a Failed status and a RunStatusChanged event
            step, code = (exc.step, exc.exit_code) if isinstance(exc, StepFailed) else (status.get("step", ""), None)
            error = str(exc) if isinstance(exc, StepFailed) else f"{type(exc).__name__}: {exc}"
            status.update(status="Failed", error=error, failed_step=step, exit_code=code, finished=now())
            write_json(run_dir / STATUS_FILE, status)
            tags = {"run_id": request.run_id, "model": request.model, "job_name": status["job_name"],
                    "failed_step": step or ""}
            _publish(events.run_status_changed("local", request.model, status["job_name"], "Failed", tags, error),
                     endpoint, retry_seconds, run_dir)
            return status
        version = result.registered.version
        status.update(status="Completed", finished=now(), model_version=version, metrics=result.metrics,
                      mlflow_run_id=result.mlflow_run_id, seconds=round(result.seconds, 3))
        write_json(run_dir / STATUS_FILE, status)
        tags = result.registered.tags
        properties = {"job_name": status["job_name"], "mlflow_run_id": result.mlflow_run_id,
                      "artifact_uri": f"models:/{spec.name}/{version}"}
        _publish(events.model_registered("local", spec.name, version, tags, properties), endpoint, retry_seconds,
                 run_dir)
        return status


def event_undelivered(run_dir: Path) -> bool:
    """The run's outcome event was published to an endpoint that never accepted it."""
    try:
        note = read_json(run_dir / EVENT_FILE)
    except FileNotFoundError:
        return False
    return not note.get("published") and bool(note.get("error"))


def _publish(event: dict[str, Any], endpoint: str, retry_seconds: float, run_dir: Path) -> None:
    try:
        sent = publish_with_retry(event, endpoint, retry_seconds)
        note = {"event": event["eventType"], "published": sent, "at": now()}
    except OSError as exc:
        log.error("gave up publishing %s to %s: %s", event["eventType"], endpoint, exc)
        note = {"event": event["eventType"], "published": False, "error": str(exc), "at": now()}
    write_json(run_dir / EVENT_FILE, {**note, "payload": event})


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m factory.adapters.local.pipeline_runner RUN_DIR", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    status = execute_run_dir(Path(args[0]).resolve())
    return 0 if status.get("status") == "Completed" else 1


if __name__ == "__main__":
    sys.exit(main())
