"""Azure ML: every model's pipeline job is built and validated offline, with the REST object the workspace
would receive (inputs, outputs, tags, compute, job name from the run id)."""

from __future__ import annotations

import pytest
from models_testlib import ALL_MODEL_NAMES, MODELS

from factory.adapters.azure.aml import AmlModelRegistry, AmlTrainer, pipeline_job_for
from factory.catalog import CatalogError, load_catalog
from factory.ports import ModelRegistry, Trainer, TrainingRequest
from factory.settings import Settings, SettingsError
from factory.training_pipeline import training_job_name

CATALOG = load_catalog(MODELS)
BLOB = "https://factorydata.blob.core.windows.net/incoming/{}/2026-11.csv"


def _request(name: str, **extra: str) -> TrainingRequest:
    return TrainingRequest(model=name, run_id=f"{name}-run-7", data_uri=BLOB.format(name), **extra)


@pytest.mark.parametrize("name", ALL_MODEL_NAMES)
def test_each_pipeline_job_validates_offline_with_the_expected_rest_object(name):
    request = _request(name, data_etag='"0x8DE"', source_commit="1a2b3c", data_sha256="ab" * 32)
    job = pipeline_job_for(CATALOG[name], request, compute="cpu-cluster")
    validation = job._validate()
    assert validation.passed, validation.error_messages
    wire = job._to_rest_object().as_dict()  # the JSON body Azure ML receives (wire names)
    rest = wire["properties"]
    assert wire["name"] == job.name == training_job_name(name, request.run_id)
    assert rest["experimentName"] == name and rest["jobType"] == "Pipeline"
    assert rest["tags"] == {"run_id": request.run_id, "model": name, "data_uri": request.data_uri,
                            "data_etag": '"0x8DE"', "data_sha256": "ab" * 32, "source_commit": "1a2b3c"}
    assert rest["settings"]["default_compute"] == "cpu-cluster"
    assert rest["inputs"]["data"] == {"uri": request.data_uri, "jobInputType": "uri_file"}
    assert {k: v["value"] for k, v in rest["inputs"].items() if k != "data"} == {
        "model_name": name, "run_id": request.run_id, "data_uri": request.data_uri, "data_etag": '"0x8DE"',
        "data_sha256": "ab" * 32, "source_commit": "1a2b3c"}
    # the first step re-hashes the data on the compute and hands the checked copy to prep
    verify = rest["jobs"]["verify_data"]["inputs"]
    assert verify["data"]["value"] == "${{parent.inputs.data}}"
    assert verify["sha256"]["value"] == "${{parent.inputs.data_sha256}}"
    assert rest["jobs"]["prep"]["inputs"]["data"]["value"] == "${{parent.jobs.verify_data.outputs.verified}}"
    assert set(rest["outputs"]) == {"model", "metrics", "registration"}
    assert list(rest["jobs"]) == ["verify_data", "prep", "transform", "train", "evaluate", "score", "register"]
    register = rest["jobs"]["register"]["inputs"]
    assert register["run_id"]["value"] == "${{parent.inputs.run_id}}"
    assert register["metrics"]["value"] == "${{parent.jobs.evaluate.outputs.metrics}}"
    for stage, step in rest["jobs"].items():  # anonymous components, uploaded with the job
        component = step["componentId"]
        assert component.name == f"{name}_{stage}" and component.environment.conda_file is not None
        assert step.get("computeId") in (None, "cpu-cluster")  # steps inherit the job's default compute


def test_optional_lineage_inputs_are_left_out_when_unknown():
    job = pipeline_job_for(CATALOG["wine_cultivar"], _request("wine_cultivar"), compute="cpu")
    assert job._validate().passed
    assert set(job._to_rest_object().as_dict()["properties"]["inputs"]) == {"data", "model_name", "run_id", "data_uri"}


def test_the_trainer_builds_jobs_from_the_catalog_and_refuses_unknown_models():
    trainer = AmlTrainer(ml_client=None, models_dir=MODELS, compute="gpu")
    job = trainer.build_job(_request("nyc_taxi"))
    assert job.settings.default_compute == "gpu" and job.name == "nyc_taxi-nyc_taxi-run-7"
    with pytest.raises(CatalogError, match="unknown model 'nope'"):
        trainer.build_job(_request("nope"))
    assert isinstance(trainer, Trainer) and isinstance(AmlModelRegistry(ml_client=None), ModelRegistry)


def test_azure_settings_are_required_and_named():
    with pytest.raises(SettingsError, match="AZURE_SUBSCRIPTION_ID"):
        AmlTrainer.from_settings(Settings.from_env({"FACTORY_BACKEND": "azure"}))


class _Jobs:
    """``MLClient.jobs`` as the service behaves when another submit of the same run lands first: the job does
    not exist at the first ``get``; ``create_or_update`` is refused; a ``get`` afterwards finds the other job."""

    def __init__(self, create_error: Exception, other_submit_lands: bool) -> None:
        self.create_error, self.other_submit_lands, self.created = create_error, other_submit_lands, None

    def get(self, name: str):
        from types import SimpleNamespace

        from azure.core.exceptions import ResourceNotFoundError

        if self.created is None:
            raise ResourceNotFoundError(f"job {name} not found")
        return SimpleNamespace(name=name, status="Running", tags={}, studio_url="")

    def create_or_update(self, job, experiment_name: str):
        if self.other_submit_lands:
            self.created = job.name
        raise self.create_error


def test_a_submit_that_loses_the_race_to_a_concurrent_one_returns_that_job_and_other_errors_are_raised():
    from types import SimpleNamespace

    from azure.core.exceptions import HttpResponseError

    already = HttpResponseError("(UserError) A job with this name already exists")
    jobs = _Jobs(already, other_submit_lands=True)
    trainer = AmlTrainer(ml_client=SimpleNamespace(jobs=jobs), models_dir=MODELS, compute="cpu")
    job = trainer.submit(_request("wine_cultivar"))
    assert (job.job_name, job.status) == (training_job_name("wine_cultivar", "wine_cultivar-run-7"), "Running")

    quota = HttpResponseError("(QuotaExceeded) no cores left")
    trainer = AmlTrainer(ml_client=SimpleNamespace(jobs=_Jobs(quota, other_submit_lands=False)), models_dir=MODELS,
                         compute="cpu")
    with pytest.raises(HttpResponseError, match="QuotaExceeded"):
        trainer.submit(_request("wine_cultivar"))
