"""The catalog: every models/*/model.yaml parsed; bad files named with their field; new folders picked up."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from models_testlib import ALL_MODEL_NAMES, MODEL_NAMES, MODELS, copy_model

from contract import RunRequest
from factory.backends import Services, services
from factory.catalog import CatalogError, load_catalog, load_model_spec
from factory.settings import Settings
from factory.steps import RunSteps, run_steps
from factory.training_pipeline import metrics_from_tags, training_job_name


def test_catalog_holds_the_five_models_with_their_settings():
    catalog = load_catalog(MODELS)
    assert tuple(catalog) == ALL_MODEL_NAMES
    assert {n: s.task for n, s in catalog.items()} == {
        "digits": "classification", "nyc_taxi": "regression", "shapes_detector": "object_detection",
        "vibration_anomaly": "anomaly", "wine_cultivar": "classification"}
    digits = catalog["digits"]
    assert digits.data.kind == "images" and digits.artifact.format == "onnx" and digits.artifact.fp16_tolerance
    assert digits.data.labels == tuple("0123456789") and digits.data.image.mode == "L"
    shapes = catalog["shapes_detector"]
    assert shapes.data.annotations == "annotations.jsonl" and shapes.key_metric == "map_50"
    assert shapes.gate.metrics["map_50"].higher_is_better and shapes.artifact.fp16_tolerance == 0.01
    taxi = catalog["nyc_taxi"]
    assert taxi.key_metric == "rmse" and taxi.gate.higher_is_better is False
    assert taxi.gate.thresholds["rmse"] == {"min": None, "max": 6.0}
    assert taxi.gate.metrics["r2"].higher_is_better and taxi.gate.metrics["r2"].min == 0.7
    assert {m.max_regression for m in taxi.gate.metrics.values()} == {0.05}
    assert taxi.data.kind == "table" and taxi.artifact.format == "joblib"
    assert taxi.data.sample == MODELS / "nyc_taxi" / "data" / "greenTaxiData.csv"
    pickup = next(c for c in taxi.data.columns if c.name == "pickupDatetime")
    assert pickup.names == ("pickupDatetime", "lpepPickupDatetime", "tpepPickupDateTime")
    assert catalog["wine_cultivar"].gate.higher_is_better is True
    for spec in catalog.values():
        assert spec.training.timeout_seconds > 0 and spec.edge.poll_seconds > 0 and spec.edge.timeout_seconds > 0
        assert spec.image.repository.startswith("models/")
        assert spec.key_metric in spec.metrics
        assert spec.environment == ("onnx" if spec.artifact.format == "onnx" else "sklearn")


def _write(folder: Path, spec: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.yaml").write_text(yaml.safe_dump(spec))
    return folder


def _valid(name: str = "demo") -> dict:
    return {"name": name, "description": "a demo", "task": "regression",
            "data": {"min_rows": 10, "max_mb": 1, "columns": {"x": "number", "y": {"type": "number"}}},
            "gate": {"metric": "rmse", "metrics": {"rmse": {"direction": "minimize", "max": 3}}}}


def _images(name: str = "demo") -> dict:
    return {"name": name, "description": "a demo", "task": "classification",
            "data": {"kind": "images", "labels": ["a", "b"], "max_mb": 1, "max_members": 10,
                     "max_uncompressed_mb": 2},
            "artifact": {"format": "onnx", "fp16_tolerance": 0.01},
            "gate": {"metric": "accuracy", "metrics": {"accuracy": {"direction": "maximize", "min": 0.5}}}}


@pytest.mark.parametrize(("change", "field", "expected"), [
    (lambda s: s.pop("task"), "field task", "one of regression, classification, anomaly, object_detection (the "),
    (lambda s: s.update(task="clustering"), "field task", "one of regression, classification, anomaly"),
    (lambda s: s["data"].update(min_rows="many"), "field data.min_rows", "a positive integer"),
    (lambda s: s["data"]["columns"].update(z={"type": "float"}), "field data.columns.z.type", "one of number"),
    (lambda s: s["gate"].update(metric="accuracy"), "field gate.metric", "one of rmse"),
    (lambda s: s["gate"]["metrics"].update(r2={"direction": "up"}), "field gate.metrics.r2.direction",
     "one of maximize, minimize"),
    (lambda s: s["gate"]["metrics"].update(r2={"min": 0.5}), "field gate.metrics.r2.direction",
     "one of maximize, minimize (the field is required)"),
    (lambda s: s["gate"]["metrics"].update(r2={"direction": "maximize", "over": 1}), "field gate.metrics.r2.over",
     "one of the fields"),
    (lambda s: s["gate"].update(metrics={}), "field gate.metrics", "at least one gated metric"),
    (lambda s: s["gate"].update(thresholds={}), "field gate.thresholds", "one of the fields"),
    (lambda s: s["gate"].update(max_regression_vs_production=5), "field gate.max_regression_vs_production",
     "a fraction between 0 and 1"),
    (lambda s: s["data"].update(kind="video"), "field data.kind", "one of table, images"),
    (lambda s: s.update(artifact={"format": "pickle"}), "field artifact.format", "one of joblib, onnx"),
    (lambda s: s.update(artifact={"fp16_tolerance": 0.01}), "field artifact.fp16_tolerance", "unless format is"),
    (lambda s: s.update(task="object_detection"), "field data.annotations", "an annotations file"),
    (lambda s: s.update(name="other"), "field name", "the folder's name 'demo'"),
    (lambda s: s.update(edge={"poll_seconds": 0}), "field edge.poll_seconds", "a positive integer"),
    (lambda s: s.update(approval={"timeout_hours": "soon"}), "field approval.timeout_hours", "a positive number"),
    (lambda s: s.update(approval={"timeout": 3}), "field approval.timeout",
     "one of the fields approvers, timeout_hours"),
    (lambda s: s.update(approval={"approvers": "alice"}), "field approval.approvers",
     "a list of principal names"),
])
def test_a_bad_model_yaml_names_the_file_the_field_and_what_was_expected(tmp_path, change, field, expected):
    spec = _valid()
    change(spec)
    folder = _write(tmp_path / "demo", spec)
    with pytest.raises(CatalogError) as caught:
        load_model_spec(folder)
    message = str(caught.value)
    assert message.startswith(f"{folder / 'model.yaml'}: {field}: expected ")
    assert expected in message


@pytest.mark.parametrize(("change", "field", "expected"), [
    (lambda s: s["data"].pop("labels"), "field data.labels", "a list of distinct labels"),
    (lambda s: s["data"].update(labels=["a", "a"]), "field data.labels", "a list of distinct labels"),
    (lambda s: s["data"].update(max_members=0), "field data.max_members", "a positive integer"),
    (lambda s: s["data"].update(image={"mode": "CMYK"}), "field data.image.mode", "one of L, RGB, RGBA"),
    (lambda s: s["data"].update(annotations="../a.jsonl"), "field data.annotations", "a .jsonl member"),
    (lambda s: s["data"].update(columns={"x": "number"}), "field data.columns", "one of the fields"),
])
def test_a_bad_images_data_section_is_named(tmp_path, change, field, expected):
    spec = _images()
    change(spec)
    folder = _write(tmp_path / "demo", spec)
    with pytest.raises(CatalogError) as caught:
        load_model_spec(folder)
    assert str(caught.value).startswith(f"{folder / 'model.yaml'}: {field}: expected ")
    assert expected in str(caught.value)


def test_an_images_model_with_a_custom_metric_parses(tmp_path):
    spec = _images()
    spec["task"] = "object_detection"
    spec["data"].update(annotations="annotations.jsonl", image={"width": 64, "height": 64, "mode": "RGB"})
    spec["gate"] = {"metric": "map_50", "max_regression_vs_production": 0.02,
                    "metrics": {"map_50": {"direction": "maximize", "min": 0.5},
                                "latency_ms": {"direction": "minimize", "max": 20,
                                               "max_regression_vs_production": 0.5}}}
    loaded = load_model_spec(_write(tmp_path / "demo", spec))
    assert loaded.data.kind == "images" and loaded.data.labels == ("a", "b")
    assert loaded.data.image.width == 64 and loaded.data.annotations == "annotations.jsonl"
    assert loaded.artifact.format == "onnx" and loaded.artifact.fp16_tolerance == 0.01
    assert set(loaded.metrics) == {"map_50", "latency_ms"} and loaded.key_metric == "map_50"
    latency = loaded.gate.metrics["latency_ms"]
    assert latency.max_regression == 0.5 and not latency.higher_is_better
    assert loaded.gate.metrics["map_50"].max_regression == 0.02


def test_metrics_come_from_the_tags_the_metrics_tag_names():
    tags = {"run_id": "r1", "data_etag": "123", "metrics": "map_50,mse", "map_50": "0.81", "mse": "1.5e-2"}
    assert metrics_from_tags(tags) == {"map_50": 0.81, "mse": 0.015}
    assert metrics_from_tags({"run_id": "r1", "rmse": "2.0"}) == {}  # not listed: not a metric
    assert metrics_from_tags({"metrics": "a,b", "a": "x", "b": "1"}) == {"b": 1.0}


def test_a_model_yaml_that_is_not_yaml_is_reported_with_its_file(tmp_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "model.yaml").write_text("name: [unclosed\n")
    with pytest.raises(CatalogError, match=r"demo/model.yaml: not valid YAML"):
        load_model_spec(folder)


def test_a_fourth_model_folder_is_picked_up_with_no_code_change(tmp_path):
    for name in MODEL_NAMES:
        copy_model(name, name, tmp_path)
    copy_model("wine_cultivar", "wine_copy", tmp_path)
    catalog = load_catalog(tmp_path)
    assert set(catalog) == {*MODEL_NAMES, "wine_copy"}
    assert catalog["wine_copy"].task == "classification" and catalog["wine_copy"].folder == tmp_path / "wine_copy"


def test_job_names_are_stable_and_safe():
    assert training_job_name("nyc_taxi", "run-1") == "nyc_taxi-run-1"
    odd = training_job_name("nyc_taxi", "incoming/nyc_taxi/2026 11.csv@0x8D")
    assert odd == training_job_name("nyc_taxi", "incoming/nyc_taxi/2026 11.csv@0x8D")
    assert odd != training_job_name("nyc_taxi", "incoming/nyc_taxi/2026-11.csv@0x8D")
    assert all(c.isalnum() or c in "-_" for c in odd) and len(training_job_name("m", "x" * 500)) <= 100


@pytest.fixture
def fresh_services():
    """The process-wide settings are read once; a test that changes the environment reads them anew."""
    services.cache_clear()
    yield services.cache_clear
    services.cache_clear()


def test_approval_timeout_comes_from_the_model_else_from_the_app_setting(tmp_path, monkeypatch, fresh_services):
    copy_model("wine_cultivar", "wine_cultivar", tmp_path)
    patient = copy_model("wine_cultivar", "wine_patient", tmp_path)
    spec = yaml.safe_load((patient / "model.yaml").read_text())
    (patient / "model.yaml").write_text(yaml.safe_dump({**spec, "approval": {"timeout_hours": 1.5}}))
    monkeypatch.setenv("FACTORY_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("APPROVAL_TIMEOUT_SECONDS", "600")
    plan = {name: run_steps().plan_run(RunRequest(run_id=f"{name}-1", model=name, data_uri="x.csv"))
            for name in ("wine_cultivar", "wine_patient")}
    assert plan["wine_patient"].approval_timeout_s == 5400
    assert plan["wine_cultivar"].approval_timeout_s == 600
    monkeypatch.delenv("APPROVAL_TIMEOUT_SECONDS")
    fresh_services()
    default = run_steps().plan_run(RunRequest(run_id="w-2", model="wine_cultivar", data_uri="x.csv"))
    assert default.approval_timeout_s == 24 * 3600


def test_the_steps_read_the_services_they_are_built_from_not_the_process_environment(tmp_path, monkeypatch):
    copy_model("wine_cultivar", "wine_cultivar", tmp_path)
    monkeypatch.setenv("APPROVAL_TIMEOUT_SECONDS", "600")  # the process's; these steps were given others
    own = Services(Settings.from_env({"FACTORY_MODELS_DIR": str(tmp_path), "APPROVAL_TIMEOUT_SECONDS": "900",
                                      "FACTORY_STATE_DIR": str(tmp_path / "state")}))
    plan = RunSteps(own).plan_run(RunRequest(run_id="w-3", model="wine_cultivar", data_uri="x.csv"))
    assert plan.approval_timeout_s == 900 and RunSteps(own).catalog().keys() == {"wine_cultivar"}
