"""Local ``Trainer``: runs a model's Azure ML pipeline on this machine (``pipeline_runner``) in a detached
background process, so ``submit`` returns at once (it is called from a Durable activity).

Settings (through ``Settings``): ``FACTORY_STATE_DIR`` (training runs live in ``<state_dir>/training/<job name>/``:
``request.json``, ``status.json``, ``logs/<step>.log``, ``steps/<step>/<output>/``), ``FACTORY_MODELS_DIR``,
``FACTORY_EVENTGRID_ENDPOINT`` (where the run publishes ModelRegistered / RunStatusChanged; empty = nowhere),
``MLFLOW_TRACKING_URI`` (optional; default SQLite under ``<state_dir>/mlflow/``),
``FACTORY_EVENT_RETRY_SECONDS`` (how long a run keeps retrying an unreachable endpoint; default 300).
A blob URL as ``data_uri`` is downloaded by the run with the blob store adapter of the same settings.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import factory
from contract import JobLink, TrainingJob
from factory import ports
from factory.adapters.local.host import file_lock
from factory.adapters.local.mlflow_registry import default_tracking_uri
from factory.adapters.local.pipeline_runner import (
    REQUEST_FILE,
    STATUS_FILE,
    event_undelivered,
    now,
    read_json,
    runner_lock,
    start_mlflow_run,
    write_json,
)
from factory.catalog import CatalogError, load_catalog
from factory.ports import TrainingRequest
from factory.settings import Settings
from factory.training_pipeline import training_job_name

STARTING_GRACE_SECONDS = 60  # a launched runner that has not taken its lock after this is reported Failed


class LocalPipelineTrainer:
    """``Trainer`` running the pipelines locally, one detached process per run."""

    def __init__(self, state_dir: Path, models_dir: Path, eventgrid_endpoint: str = "",
                 tracking_uri: str | None = None, environ: dict[str, str] | None = None,
                 publish_retry_seconds: float = 300.0) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.models_dir = Path(models_dir).resolve()
        self.eventgrid_endpoint = eventgrid_endpoint
        self.tracking_uri = tracking_uri or default_tracking_uri(self.state_dir)
        self.environ = dict(os.environ if environ is None else environ)
        self.publish_retry_seconds = publish_retry_seconds
        self.runs_dir = self.state_dir / "training"

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalPipelineTrainer:
        return cls(settings.state_dir, settings.models_dir, settings.eventgrid_endpoint,
                   tracking_uri=settings.env("MLFLOW_TRACKING_URI", default_tracking_uri(settings.state_dir)),
                   environ=settings.environ,
                   publish_retry_seconds=float(settings.env("FACTORY_EVENT_RETRY_SECONDS", "300")))

    def run_dir(self, job_name: str) -> Path:
        return self.runs_dir / job_name

    def _submit_lock(self, job_name: str) -> contextlib.AbstractContextManager[bool]:
        return file_lock(self.runs_dir / f".{job_name}.lock")

    def submit(self, request: TrainingRequest) -> TrainingJob:
        """Start the run in the background and return; a second submit for the same run id returns the same
        job without starting another run (a runner that never started is started again, and an outcome event
        the endpoint never accepted is published again)."""
        job_name = training_job_name(request.model, request.run_id)
        run_dir = self.run_dir(job_name)
        with self._submit_lock(job_name):
            if not (run_dir / REQUEST_FILE).is_file():
                spec = self._spec(request.model)
                run_dir.mkdir(parents=True, exist_ok=True)
                write_json(run_dir / STATUS_FILE, {"job_name": job_name, "model": request.model,
                                                   "run_id": request.run_id, "status": "NotStarted",
                                                   "submitted": now()})
                # the run's MLflow run is made here, in the long-lived host where MLflow stays imported, so the
                # detached runner starts its first step without importing MLflow first
                mlflow_run_id = start_mlflow_run(spec, request, self.state_dir, self.tracking_uri)
                write_json(run_dir / REQUEST_FILE, {
                    "request": request.to_dict(), "model_folder": str(spec.folder), "state_dir": str(self.state_dir),
                    "tracking_uri": self.tracking_uri, "eventgrid_endpoint": self.eventgrid_endpoint,
                    "publish_retry_seconds": self.publish_retry_seconds, "mlflow_run_id": mlflow_run_id})
            launched = (run_dir / "launched").is_file()
            if not launched or (event_undelivered(run_dir) and self._runner_idle(run_dir)):
                # never started (a crash right after writing the request), or its event never got through
                # (the endpoint was down longer than the retry window): the runner runs/publishes again
                self._launch(run_dir)
                (run_dir / "launched").write_text(now(), encoding="utf-8")
        return self.status(job_name)

    @staticmethod
    def _runner_idle(run_dir: Path) -> bool:
        with runner_lock(run_dir) as free:
            return free

    def _spec(self, model: str) -> Any:
        catalog = load_catalog(self.models_dir)
        if model not in catalog:
            raise CatalogError(f"unknown model {model!r}: {self.models_dir} holds {', '.join(catalog) or 'none'}")
        return catalog[model]

    def _launch(self, run_dir: Path) -> None:
        repo_root = str(Path(factory.__file__).resolve().parents[1])
        env = {**self.environ, "FACTORY_STATE_DIR": str(self.state_dir), "FACTORY_MODELS_DIR": str(self.models_dir),
               "PYTHONPATH": os.pathsep.join(p for p in (repo_root, self.environ.get("PYTHONPATH", "")) if p)}
        with (run_dir / "runner.log").open("ab") as out:
            process = subprocess.Popen([sys.executable, "-m", "factory.adapters.local.pipeline_runner", str(run_dir)],
                                       cwd=repo_root, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        # reap it when it ends (no zombie in a long-lived host); the run itself never depends on this process
        threading.Thread(target=process.wait, name=f"reap-{run_dir.name}", daemon=True).start()

    def job_link(self, job_name: str, model_version: str = "") -> JobLink:
        """The job's MLflow run (the tracking store under the state dir); its page and the model version's page
        when ``MLFLOW_UI_URL`` names an MLflow UI serving that store (the stack's: ``localstack/mlflow_ui.py``)."""
        try:
            request = read_json(self.run_dir(job_name) / REQUEST_FILE)
        except FileNotFoundError:
            return JobLink(label=f"local job {job_name} (not found)")
        run_id, model = str(request.get("mlflow_run_id") or ""), str(request.get("request", {}).get("model", ""))
        ui = self.environ.get("MLFLOW_UI_URL", "").rstrip("/")
        url = version_url = ""
        if ui and run_id:
            from factory.adapters.local.mlflow_registry import ensure_experiment, ui_run_url, ui_version_url

            url = ui_run_url(ui, ensure_experiment(self.tracking_uri, self.state_dir, model), run_id)
            version_url = ui_version_url(ui, model, model_version) if model_version else ""
        return JobLink(label=f"MLflow run {run_id} (experiment {model}, tracking store {self.tracking_uri})", url=url,
                       version_url=version_url)

    def status(self, job_name: str) -> TrainingJob:
        """The run's state from its ``status.json``; a run whose process died before finishing is Failed."""
        run_dir = self.run_dir(job_name)
        try:
            status = read_json(run_dir / STATUS_FILE)
        except FileNotFoundError:
            raise KeyError(f"no local training job named {job_name!r} under {self.runs_dir}") from None
        state = status.get("status", "NotStarted")
        if state in ("NotStarted", "Running"):
            with runner_lock(run_dir) as free:
                # re-read under the lock: the runner may have finished between the two reads
                status = read_json(run_dir / STATUS_FILE)
                state = status.get("status", state)
                launched = run_dir / "launched"
                age = time.time() - launched.stat().st_mtime if launched.is_file() else 0.0
                died = state == "Running" or (state == "NotStarted" and age > STARTING_GRACE_SECONDS)
                if free and state in ("NotStarted", "Running") and died:
                    state, status["error"] = "Failed", f"the runner process of {job_name} ended without a result"
        return TrainingJob(job_name=job_name, status=state, model=status.get("model", ""),
                           run_id=status.get("run_id", ""), error=status.get("error", ""))

    def wait(self, job_name: str, timeout: float = 600.0, interval: float = 0.2) -> TrainingJob:
        """Poll ``status`` until the job is Completed or Failed (or ``timeout`` seconds pass: TimeoutError)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.status(job_name)
            if job.status in ("Completed", "Failed", "Canceled"):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"{job_name} still {job.status} after {timeout:.0f} s")
            time.sleep(interval)


# pyright checks each adapter against its port here (a missing or mistyped method fails `make test`)
_LocalPipelineTrainer: type[ports.Trainer] = LocalPipelineTrainer
