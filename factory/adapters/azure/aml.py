"""Azure Machine Learning: the training ``Trainer`` (pipeline jobs) and the ``ModelRegistry`` (workspace models),
with ``azure-ai-ml`` (``MLClient``) and ``DefaultAzureCredential`` (the Function app's managed identity).

Settings (through ``Settings.env``):
- ``AZURE_SUBSCRIPTION_ID``, ``AZURE_RESOURCE_GROUP``, ``AML_WORKSPACE``: the workspace;
- ``AML_COMPUTE``: the compute cluster the pipeline steps run on (default ``cpu-cluster``);
- ``FACTORY_MODELS_DIR`` (``Settings.models_dir``): where the models' ``mlops/pipeline.py`` live.

A run's pipeline job is named ``training_job_name(model, run_id)``: submitting twice finds the first job.
The production version of a model is the one whose ``stage`` is ``Production`` (the previous one is moved
back to ``Development`` when another is promoted). Metrics are read from the version's tags, as the
register stage writes them (``factory.training_pipeline.metrics_from_tags``).
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from contract import JobLink, TrainingJob
from factory import ports
from factory.catalog import CatalogError, load_catalog
from factory.model_spec import ModelSpec
from factory.ports import ModelVersion, TrainingRequest
from factory.settings import Settings
from factory.training_pipeline import build_pipeline_job, metrics_from_tags
from factory.training_pipeline import training_job_name as job_name_for

PRODUCTION_STAGE = "Production"
DEMOTED_STAGE = "Development"
# Azure ML job states -> the port's states
_STATES = {
    "Completed": "Completed", "Failed": "Failed", "Canceled": "Canceled", "CancelRequested": "Canceled",
    "NotStarted": "NotStarted", "Queued": "NotStarted", "Preparing": "NotStarted", "Provisioning": "NotStarted",
    "Starting": "NotStarted",
}


def ml_client_from_settings(settings: Settings) -> Any:
    """An ``MLClient`` for the configured workspace, authenticated with ``DefaultAzureCredential``."""
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential

    return MLClient(DefaultAzureCredential(), subscription_id=settings.env("AZURE_SUBSCRIPTION_ID"),
                    resource_group_name=settings.env("AZURE_RESOURCE_GROUP"),
                    workspace_name=settings.env("AML_WORKSPACE"))


def pipeline_job_for(spec: ModelSpec, request: TrainingRequest, compute: str) -> Any:
    """The pipeline job of one training, ready to submit: named after the run, tagged with its lineage, the
    data as a ``uri_file`` input, every step on ``compute``."""
    from azure.ai.ml import Input

    job = build_pipeline_job(spec, Input(type="uri_file", path=request.data_uri), request.run_id,
                             data_uri=request.data_uri, data_etag=request.data_etag,
                             data_sha256=request.data_sha256, source_commit=request.source_commit)
    job.name = job_name_for(spec.name, request.run_id)
    job.display_name = f"{spec.name} {request.run_id}"
    job.experiment_name = spec.name
    job.tags = {k: v for k, v in {"run_id": request.run_id, "model": spec.name, "data_uri": request.data_uri,
                                  "data_etag": request.data_etag, "data_sha256": request.data_sha256,
                                  "source_commit": request.source_commit}.items() if v}
    job.settings.default_compute = compute
    job.settings.continue_on_step_failure = False
    return job


class AmlTrainer:
    """``Trainer`` submitting each model's ``@dsl.pipeline`` as an Azure ML pipeline job."""

    def __init__(self, ml_client: Any, models_dir: Path, compute: str) -> None:
        self.ml_client, self.models_dir, self.compute = ml_client, Path(models_dir), compute

    @classmethod
    def from_settings(cls, settings: Settings) -> AmlTrainer:
        return cls(ml_client_from_settings(settings), settings.models_dir, settings.env("AML_COMPUTE", "cpu-cluster"))

    def build_job(self, request: TrainingRequest) -> Any:
        catalog = load_catalog(self.models_dir)
        if request.model not in catalog:
            raise CatalogError(f"unknown model {request.model!r}: {self.models_dir} holds {', '.join(catalog)}")
        return pipeline_job_for(catalog[request.model], request, self.compute)

    def submit(self, request: TrainingRequest) -> TrainingJob:
        """Submit the pipeline job, or return the one this run id already submitted."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        name = job_name_for(request.model, request.run_id)
        try:
            return self._job(self.ml_client.jobs.get(name), request)
        except ResourceNotFoundError:
            pass
        try:
            created = self.ml_client.jobs.create_or_update(self.build_job(request), experiment_name=request.model)
        except HttpResponseError as create_error:
            # a concurrent submit of the same run won the race: the service answers "UserError: A job with this
            # name already exists" (not a 409, so not ResourceExistsError); any other error is raised as it was
            try:
                created = self.ml_client.jobs.get(name)
            except ResourceNotFoundError:
                raise create_error from None
        return self._job(created, request)

    def job_link(self, job_name: str, model_version: str = "") -> JobLink:
        """The job's Azure ML studio page, built from the workspace's ids (the ``studio_url`` the SDK reports
        has the same shape), without a call to the service. No ``version_url``: the card names the version."""
        c = self.ml_client
        wsid = (f"/subscriptions/{c.subscription_id}/resourceGroups/{c.resource_group_name}"
                f"/providers/Microsoft.MachineLearningServices/workspaces/{c.workspace_name}")
        return JobLink(label=f"Azure ML job {job_name}",
                       url=f"https://ml.azure.com/runs/{urllib.parse.quote(job_name)}?wsid={urllib.parse.quote(wsid)}")

    @staticmethod
    def _job(job: Any, request: TrainingRequest | None = None) -> TrainingJob:
        tags = dict(job.tags or {})
        state = _STATES.get(str(job.status), "Running")
        error = f"Azure ML job {job.name} {job.status}; see {job.studio_url}" if state == "Failed" else ""
        return TrainingJob(job_name=job.name, status=state, model=request.model if request else tags.get("model", ""),
                           run_id=request.run_id if request else tags.get("run_id", ""), error=error)


class AmlModelRegistry:
    """``ModelRegistry`` over the workspace's model registry."""

    def __init__(self, ml_client: Any) -> None:
        self.ml_client = ml_client

    @classmethod
    def from_settings(cls, settings: Settings) -> AmlModelRegistry:
        return cls(ml_client_from_settings(settings))

    @staticmethod
    def _version(model: Any) -> ModelVersion:
        tags = dict(model.tags or {})
        return ModelVersion(name=model.name, version=str(model.version), metrics=metrics_from_tags(tags), tags=tags,
                            artifact_uri=f"azureml:{model.name}:{model.version}")

    def get(self, name: str, version: str) -> ModelVersion:
        return self._version(self.ml_client.models.get(name=name, version=str(version)))

    def production(self, name: str) -> ModelVersion | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            found = list(self.ml_client.models.list(name=name, stage=PRODUCTION_STAGE))
        except ResourceNotFoundError:
            return None
        return self._version(max(found, key=lambda m: int(m.version))) if found else None

    def versions(self, name: str) -> list[ModelVersion]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            found = list(self.ml_client.models.list(name=name))
        except ResourceNotFoundError:
            return []
        return [self._version(m) for m in sorted(found, key=lambda m: int(m.version))]

    def download(self, name: str, version: str, dest: Path) -> Path:
        """Download the version's files; returns the folder holding ``model.json``."""
        dest = Path(dest)
        self.ml_client.models.download(name=name, version=str(version), download_path=str(dest))
        cards = sorted(dest.rglob("model.json"), key=lambda p: len(p.parts))
        if not cards:
            raise FileNotFoundError(f"model {name} version {version} holds no model.json (downloaded into {dest})")
        return cards[0].parent

    def mark_production(self, name: str, version: str) -> None:
        target = self.ml_client.models.get(name=name, version=str(version))
        for current in self.ml_client.models.list(name=name, stage=PRODUCTION_STAGE):
            if str(current.version) != str(version):
                current.stage = DEMOTED_STAGE
                self.ml_client.models.create_or_update(current)
        if target.stage != PRODUCTION_STAGE:
            target.stage = PRODUCTION_STAGE
            self.ml_client.models.create_or_update(target)


# pyright checks each adapter against its port here (a missing or mistyped method fails `make test`)
_AmlTrainer: type[ports.Trainer] = AmlTrainer
_AmlModelRegistry: type[ports.ModelRegistry] = AmlModelRegistry
