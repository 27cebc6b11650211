"""The local runner executes the models' AML pipelines with real subprocesses, a real MLflow registry and
real Event Grid deliveries to a loopback endpoint."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from models_testlib import MODEL_NAMES, MODELS, EventSink, copy_model

from factory.adapters.local.host import free_port
from factory.adapters.local.mlflow_registry import MlflowModelRegistry, default_tracking_uri
from factory.adapters.local.pipeline import LocalPipelineTrainer
from factory.adapters.local.pipeline_runner import (
    PipelineError,
    Step,
    StepFailed,
    fetch_data,
    load_plan,
    publish_with_retry,
    resolve_command,
    run_pipeline,
    write_json,
)
from factory.catalog import load_catalog
from factory.events import model_registered
from factory.ports import TrainingRequest

CATALOG = load_catalog(MODELS)
STAGES = ["verify_data", "prep", "transform", "train", "evaluate", "score", "register"]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_plan_orders_the_steps_and_binds_them_as_the_pipeline_does(name, tmp_path):
    plan = load_plan(CATALOG[name], cache_dir=tmp_path)
    assert [s.name for s in plan.steps] == STAGES
    steps = {s.name: s for s in plan.steps}
    assert steps["verify_data"].inputs == {"data": "${{parent.inputs.data}}",
                                           "sha256": "${{parent.inputs.data_sha256}}"}
    assert steps["prep"].inputs == {"data": "${{parent.jobs.verify_data.outputs.verified}}"}
    assert steps["register"].depends_on == ["evaluate", "score", "train"]
    assert steps["evaluate"].inputs["model"] == "${{parent.jobs.train.outputs.model}}"
    assert Path(steps["train"].code_dir) == MODELS / name / "src"
    assert plan.outputs == {"model": "train.model", "metrics": "evaluate.metrics",
                            "registration": "register.registration"}
    cached = load_plan(CATALOG[name], cache_dir=tmp_path)  # the second load reads the cached JSON
    assert cached == plan and len(list(tmp_path.glob(f"{name}-*.json"))) == 1


def test_commands_resolve_placeholders_and_keep_optional_blocks_only_with_values(tmp_path):
    step = Step(name="register", command="python register.py --model ${{inputs.model}} --run_id ${{inputs.run_id}} "
                "$[[--data_etag ${{inputs.data_etag}}]] $[[--data_uri ${{inputs.data_uri}}]] --out ${{outputs.out}}",
                code_dir=".", outputs=["out"],
                inputs={"model": "${{parent.jobs.train.outputs.model}}", "run_id": "${{parent.inputs.run_id}}",
                        "data_etag": "${{parent.inputs.data_etag}}", "data_uri": "${{parent.inputs.data_uri}}"})
    argv = resolve_command(step, {"run_id": "run 1", "data_etag": None, "data_uri": "https://a/b c.csv"}, tmp_path)
    assert argv[1:] == ["register.py", "--model", str(tmp_path / "steps/train/model"), "--run_id", "run 1",
                        "--data_uri", "https://a/b c.csv", "--out", str(tmp_path / "steps/register/out")]
    assert Path(argv[0]).name.startswith("python")


def _trainer(state: Path, models: Path, endpoint: str = "") -> LocalPipelineTrainer:
    return LocalPipelineTrainer(state, models, endpoint, publish_retry_seconds=30)


@pytest.fixture(scope="module")
def fourth_model_run(tmp_path_factory):
    """A copy of wine_cultivar named wine_copy, trained end to end by the background trainer."""
    root = tmp_path_factory.mktemp("fourth")
    models = root / "models"
    for name in MODEL_NAMES:
        copy_model(name, name, models)
    copy_model("wine_cultivar", "wine_copy", models)
    sink = EventSink()
    trainer = _trainer(root / "state", models, sink.url)
    request = TrainingRequest(model="wine_copy", run_id="run-4th", data_uri=str(models / "wine_copy/data/wine.csv"),
                              data_etag='"0x8DE1"', source_commit="abc123")
    submitted = trainer.submit(request)
    # what is true the moment submit returns: the runner is detached, nothing trained or registered yet
    at_submit = trainer.status(submitted.job_name).status
    versions_at_submit = MlflowModelRegistry(default_tracking_uri(root / "state")).versions("wine_copy")
    job = trainer.wait(submitted.job_name, timeout=300)
    events = sink.wait_for(1, timeout=60)
    yield {"trainer": trainer, "request": request, "submitted": submitted, "job": job, "events": events,
           "sink": sink, "state": root / "state", "models": models, "at_submit": at_submit,
           "versions_at_submit": versions_at_submit}
    sink.close()


def test_a_fourth_model_trains_in_the_background_and_registers_version_1(fourth_model_run):
    run = fourth_model_run
    # submit makes the MLflow run and starts the detached runner; it does not train
    assert run["at_submit"] in ("NotStarted", "Running") and run["versions_at_submit"] == []
    assert run["submitted"].job_name == "wine_copy-run-4th" and run["submitted"].status in ("NotStarted", "Running")
    assert run["job"].status == "Completed", run["job"].error
    status = json.loads((run["trainer"].run_dir("wine_copy-run-4th") / "status.json").read_text())
    assert [s["name"] for s in status["steps"]] == STAGES and {s["status"] for s in status["steps"]} == {"Completed"}
    for step in STAGES:  # one log per step, holding the command and the program's output
        log = (run["trainer"].run_dir("wine_copy-run-4th") / "logs" / f"{step}.log").read_text()
        assert log.startswith("# environment ") and "\n$ " in log and f"{step}:" in log
    registry = MlflowModelRegistry(default_tracking_uri(run["state"]))
    (version,) = registry.versions("wine_copy")
    assert version.version == "1" and version.tags["run_id"] == "run-4th"
    assert set(version.metrics) == {"accuracy", "f1_macro"} and version.metrics["accuracy"] >= 0.85
    assert version.tags["data_etag"] == '"0x8DE1"' and version.tags["source_commit"] == "abc123"


def test_the_run_publishes_model_registered_with_lineage_and_metrics(fourth_model_run):
    (event,) = fourth_model_run["events"]
    assert event["eventType"] == "Microsoft.MachineLearningServices.ModelRegistered"
    assert event["subject"] == "models/wine_copy:1"
    data = event["data"]
    assert data["ModelName"] == "wine_copy" and data["ModelVersion"] == "1"
    tags = data["ModelTags"]
    assert tags["run_id"] == "run-4th" and tags["data_uri"] == fourth_model_run["request"].data_uri
    assert tags["data_etag"] == '"0x8DE1"' and tags["source_commit"] == "abc123"
    assert float(tags["accuracy"]) >= 0.85 and float(tags["f1_macro"]) >= 0.85
    assert data["ModelProperties"]["job_name"] == "wine_copy-run-4th"


def test_submitting_the_same_run_again_starts_nothing_and_registers_nothing(fourth_model_run):
    run = fourth_model_run
    again = run["trainer"].submit(run["request"])
    assert again.job_name == run["submitted"].job_name and again.status == "Completed"
    time.sleep(1.0)
    registry = MlflowModelRegistry(default_tracking_uri(run["state"]))
    assert [v.version for v in registry.versions("wine_copy")] == ["1"]
    assert len(run["sink"].events) == 1


def test_the_registered_artifact_keeps_the_serving_contract(fourth_model_run, tmp_path):
    registry = MlflowModelRegistry(default_tracking_uri(fourth_model_run["state"]))
    folder = registry.download("wine_copy", "1", tmp_path / "artifact")
    card = json.loads((folder / "model.json").read_text())
    assert card["name"] == "wine_copy" and card["task"] == "classification" and card["classes"] == [0, 1, 2]
    assert card["target"] == "cultivar" and len(card["features"]) == 13
    estimator = joblib.load(folder / "model.joblib")
    sample = pd.read_csv(MODELS / "wine_cultivar/data/wine.csv")
    predicted = estimator.predict(sample[card["features"]].to_numpy(dtype=float))
    assert set(np.unique(predicted)) <= set(card["classes"]) and (predicted == sample["cultivar"]).mean() > 0.9


def test_production_is_the_version_marked_with_the_alias(fourth_model_run):
    registry = MlflowModelRegistry(default_tracking_uri(fourth_model_run["state"]))
    assert registry.production("wine_copy") is None
    registry.mark_production("wine_copy", "1")
    production = registry.production("wine_copy")
    assert production is not None and production.version == "1" and production.metrics["f1_macro"] >= 0.85
    assert registry.production("never_registered") is None


def test_a_failing_step_reports_its_name_exit_code_and_stderr(tmp_path):
    models = tmp_path / "models"
    folder = copy_model("wine_cultivar", "wine_broken", models)
    train = folder / "src" / "train.py"
    train.write_text(train.read_text().replace('    """Scaler + logistic regression fitted on ``train``."""',
                                               '    """Broken."""\n    raise ValueError("cannot fit: no cultivars")'))
    sink = EventSink()
    try:
        trainer = _trainer(tmp_path / "state", models, sink.url)
        job = trainer.wait(trainer.submit(TrainingRequest(model="wine_broken", run_id="r-bad",
                                                          data_uri=str(folder / "data/wine.csv"))).job_name, 120)
        (event,) = sink.wait_for(1, timeout=60)
    finally:
        sink.close()
    assert job.status == "Failed"
    assert job.error.startswith("step train failed with exit code 1; last log lines:")
    assert "ValueError: cannot fit: no cultivars" in job.error
    status = json.loads((trainer.run_dir(job.job_name) / "status.json").read_text())
    # stopped at the failing step
    assert [s["name"] for s in status["steps"]] == ["verify_data", "prep", "transform", "train"]
    assert event["eventType"] == "Microsoft.MachineLearningServices.RunStatusChanged"
    assert event["data"]["RunStatus"] == "Failed" and event["data"]["RunTags"]["run_id"] == "r-bad"
    assert event["data"]["RunTags"]["failed_step"] == "train"
    assert "cannot fit: no cultivars" in event["data"]["RunProperties"]["error"]
    assert MlflowModelRegistry(default_tracking_uri(tmp_path / "state")).versions("wine_broken") == []


def test_publishing_retries_while_the_endpoint_is_down(tmp_path):
    port = free_port()
    event = model_registered("local", "m", 1, {"run_id": "r"})
    holder: dict[str, EventSink] = {}
    starter = threading.Timer(1.5, lambda: holder.setdefault("sink", EventSink(port)))
    starter.start()
    started = time.monotonic()
    try:
        assert publish_with_retry(event, f"http://127.0.0.1:{port}/api/events", retry_seconds=30, interval=0.3)
        assert time.monotonic() - started >= 1.4
        assert holder["sink"].wait_for(1, 5)[0]["id"] == event["id"]
    finally:
        starter.join()
        holder["sink"].close()


def test_publishing_gives_up_after_its_retry_window_and_no_endpoint_means_no_publishing():
    event = model_registered("local", "m", 1, {"run_id": "r"})
    assert publish_with_retry(event, "", retry_seconds=30) is False
    with pytest.raises(OSError):
        publish_with_retry(event, f"http://127.0.0.1:{free_port()}/x", retry_seconds=0.5, interval=0.2)


class _HttpBlobStore:
    """A blob store over plain HTTP on loopback (the Azurite-backed adapter has the same download())."""

    def download(self, uri: str, dest: Path) -> Path:
        with urllib.request.urlopen(uri, timeout=10) as response:
            dest.write_bytes(response.read())
        return dest


def test_blob_url_data_is_downloaded_with_the_blob_store(tmp_path):
    served = MODELS / "wine_cultivar" / "data"
    handler = lambda *a: SimpleHTTPRequestHandler(*a, directory=str(served))  # noqa: E731
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/wine.csv?sv=2024&sig=x"
        path = fetch_data(url, tmp_path / "data", _HttpBlobStore())
    finally:
        server.shutdown()
        server.server_close()
    assert path == tmp_path / "data" / "wine.csv" and path.read_bytes() == (served / "wine.csv").read_bytes()
    assert fetch_data(str(served / "wine.csv"), tmp_path, None) == served / "wine.csv"


def test_a_runner_that_died_is_reported_failed(tmp_path):
    trainer = _trainer(tmp_path / "state", MODELS)
    run_dir = trainer.run_dir("wine_cultivar-gone")
    run_dir.mkdir(parents=True)
    write_json(run_dir / "status.json", {"job_name": "wine_cultivar-gone", "model": "wine_cultivar",
                                         "run_id": "gone", "status": "Running"})
    job = trainer.status("wine_cultivar-gone")
    assert job.status == "Failed" and "ended without a result" in job.error


@pytest.mark.slow
def test_every_model_trains_end_to_end_and_a_second_run_makes_version_2(tmp_path):
    """Every model once, at once; then one model (wine_cultivar) again: version 2 is per-model bookkeeping, the
    same code for every model, so a second run of all of them would only train each again."""
    sink = EventSink()
    trainer = _trainer(tmp_path / "state", MODELS, sink.url)
    again = "wine_cultivar"
    try:
        for attempt, names in (("run-a", MODEL_NAMES), ("run-b", (again,))):
            jobs = [trainer.submit(TrainingRequest(model=name, run_id=attempt, data_uri=str(CATALOG[name].data.sample)))
                    for name in names]
            for job in jobs:
                done = trainer.wait(job.job_name, timeout=600)
                assert done.status == "Completed", done.error
        events = sink.wait_for(len(MODEL_NAMES) + 1, timeout=60)
    finally:
        sink.close()
    registry = MlflowModelRegistry(default_tracking_uri(tmp_path / "state"))
    for name in MODEL_NAMES:
        versions = registry.versions(name)
        runs = ["run-a", "run-b"] if name == again else ["run-a"]
        assert [v.version for v in versions] == [str(n) for n in range(1, len(runs) + 1)]
        assert [v.tags["run_id"] for v in versions] == runs
        assert len(versions[-1].tags["source_commit"]) == 40  # no commit given: the repository's HEAD
        gate = CATALOG[name].gate
        for metric, bounds in gate.thresholds.items():  # real training on the samples passes each model's gate
            value = versions[-1].metrics[metric]
            assert bounds["min"] is None or value >= bounds["min"], (name, metric, value)
            assert bounds["max"] is None or value <= bounds["max"], (name, metric, value)
    registered = sorted((e["data"]["ModelName"], e["data"]["ModelVersion"]) for e in events)
    assert registered == sorted([(n, "1") for n in MODEL_NAMES] + [(again, "2")])


def test_an_event_the_endpoint_never_accepted_is_published_again_on_resubmit(tmp_path):
    models = tmp_path / "models"
    folder = copy_model("wine_cultivar", "wine_broken", models)
    (folder / "src" / "prep.py").write_text("raise SystemExit('prep: no data today')\n")
    port = free_port()  # nothing listens here yet: the host is "restarting"
    trainer = LocalPipelineTrainer(tmp_path / "state", models, f"http://127.0.0.1:{port}/api/events",
                                   publish_retry_seconds=1)
    request = TrainingRequest(model="wine_broken", run_id="r-down", data_uri=str(folder / "data/wine.csv"))
    job = trainer.wait(trainer.submit(request).job_name, 120)
    event_file = trainer.run_dir(job.job_name) / "event.json"
    deadline = time.monotonic() + 60
    while not event_file.is_file() or not trainer._runner_idle(event_file.parent):  # the runner gave up and ended
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert job.status == "Failed" and json.loads(event_file.read_text())["published"] is False
    sink = EventSink(port)  # the endpoint is back
    try:
        assert trainer.submit(request).status == "Failed"
        (event,) = sink.wait_for(1, timeout=60)
        assert event["data"]["RunStatus"] == "Failed" and event["data"]["RunTags"]["run_id"] == "r-down"
        assert trainer.submit(request).status == "Failed"  # delivered now: nothing is sent a second time
        time.sleep(1.5)
        assert len(sink.events) == 1 and json.loads(event_file.read_text())["published"] is True
    finally:
        sink.close()


@pytest.mark.parametrize("case", ["refused", "failed"])
def test_the_downloaded_data_copy_is_removed_when_the_run_ends(case, tmp_path):
    """A run on blob data downloads it to ``<run>/data``; refused (pinned sha256 differs) or failed at a step,
    the copy is gone afterwards while the logs and status stay."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "wine.csv").write_text("not,the,wine,columns\n1,2,3,4\n" if case == "failed" else
                                     (MODELS / "wine_cultivar" / "data" / "wine.csv").read_text())
    handler = lambda *a: SimpleHTTPRequestHandler(*a, directory=str(served))  # noqa: E731
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/wine.csv"
    request = TrainingRequest(model="wine_cultivar", run_id=f"copy-{case}", data_uri=url,
                              data_sha256="0" * 64 if case == "refused" else "")
    run_dir = tmp_path / "run"
    try:
        with pytest.raises(PipelineError) as failure:
            run_pipeline(CATALOG["wine_cultivar"], request, run_dir, tmp_path / "state", blob_store=_HttpBlobStore())
    finally:
        server.shutdown()
        server.server_close()
    assert run_dir.is_dir() and not (run_dir / "data").exists()
    if case == "failed":
        assert isinstance(failure.value, StepFailed) and failure.value.step == "prep"
        assert (run_dir / "logs" / "prep.log").is_file()  # what the failure needs stays
    else:
        assert "sha256" in str(failure.value)
