"""Run identity and the Event Grid events (the Azure docs' samples and our local publishers' events)."""

import json
from pathlib import Path

import azure.functions as func
from azure.eventgrid import EventGridEvent, SystemEventNames

from factory import events
from factory.runs import blob_in_subject, model_of_blob, run_id_for_blob, run_id_for_key

SAMPLES = Path(__file__).parent.parent / "fixtures" / "eventgrid"


def _sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text())[0]


def test_same_blob_version_gives_same_run_id_and_new_version_a_new_one():
    url = "https://acct.blob.core.windows.net/incoming/nyc_taxi/a.csv"
    assert run_id_for_blob("nyc_taxi", url, "0x1") == run_id_for_blob("nyc_taxi", url, '"0x1"')
    assert run_id_for_blob("nyc_taxi", url, "0x1") != run_id_for_blob("nyc_taxi", url, "0x2")
    assert run_id_for_key("nyc_taxi", "k1") == run_id_for_key("nyc_taxi", "k1") != run_id_for_key("nyc_taxi", "k2")


def test_docs_blob_created_sample_names_its_model():
    sample = _sample("blob_created")
    event = EventGridEvent.from_dict(sample)
    assert event.event_type == SystemEventNames.StorageBlobCreatedEventName
    container, blob = blob_in_subject(event.subject)
    assert (container, model_of_blob(blob)) == ("incoming", "nyc_taxi")
    assert blob_in_subject("/something/else") is None
    assert model_of_blob("loose.csv") is None


def test_local_publishers_events_have_the_docs_shape():
    """Our events carry every key the docs' samples carry, and azure-eventgrid parses them."""
    ours = {
        "blob_created": events.blob_created("devstoreaccount1", "incoming", "m/a.csv", "http://x/m/a.csv", "0x1", 5),
        "model_registered": events.model_registered("ws", "m", 3, {"run_id": "r"}),
        "run_status_changed": events.run_status_changed("ws", "m", "job", "Failed", {"run_id": "r"}, "boom"),
        "image_pushed": events.image_pushed("dev", "127.0.0.1:5000", "m", "r", "sha256:aa", 10),
    }
    for name, event in ours.items():
        sample = _sample(name)
        assert set(sample) <= set(event), name
        assert set(sample["data"]) <= set(event["data"]), name
        parsed = EventGridEvent.from_dict(event)
        assert parsed.event_type == sample["eventType"]


def test_functions_event_grid_event_exposes_docs_sample_data():
    sample = _sample("image_pushed")
    event = func.EventGridEvent(id=sample["id"], data=sample["data"], topic=sample["topic"],
                                subject=sample["subject"], event_type=sample["eventType"], event_time=None,
                                data_version=sample["dataVersion"])
    target = event.get_json()["target"]
    assert (target["repository"], target["tag"]) == ("aci-helloworld", "v1")
    assert target["digest"].startswith("sha256:")


def test_settings_pick_backend_and_state_dir_and_name_bad_values():
    import pytest

    from factory.settings import Settings, SettingsError

    local = Settings.from_env({"FACTORY_ROOT": "/srv/app"})
    assert local.backend == "local" and str(local.state_dir) == "/srv/app/.factory"
    azure = Settings.from_env({"FACTORY_BACKEND": "azure", "FACTORY_ROOT": "/home/site/wwwroot"})
    assert not str(azure.state_dir).startswith("/home/site/wwwroot")
    with pytest.raises(SettingsError, match="FACTORY_BACKEND"):
        Settings.from_env({"FACTORY_BACKEND": "gcp"})
    with pytest.raises(SettingsError, match="AML_WORKSPACE"):
        azure.env("AML_WORKSPACE")


def _camel(data: dict) -> dict:
    return {key[0].lower() + key[1:]: value for key, value in data.items()}


def test_aml_events_are_read_in_the_docs_casing_and_in_the_sdks_casing():
    registered = {**_sample("model_registered")["data"], "ModelTags": {"run_id": "r1", "area": "x"}}
    failed = {**_sample("run_status_changed")["data"], "RunStatus": "Failed",
              "RunTags": {"run_id": "r2"}, "RunProperties": {"error": "step train exited with 1"}}
    for shape in (dict, _camel):  # the docs' samples: ModelName, RunStatus; the SDKs' models: modelName, runStatus
        assert events.model_registration(shape(registered)) == {
            "run_id": "r1", "name": "sklearn_regression_model", "version": "20", "tags": {"run_id": "r1", "area": "x"}}
        assert events.training_failure(shape(failed)) == {"run_id": "r2", "error": "step train exited with 1"}
        assert events.training_failure(shape({**failed, "RunStatus": "failed"}))["run_id"] == "r2"
        assert events.training_failure(shape({**failed, "RunStatus": "Running"})) is None
        assert events.training_failure(shape({**failed, "RunTags": {}})) is None
        assert events.model_registration(shape(_sample("model_registered")["data"])) is None  # not the factory's


def test_a_route_run_id_that_would_change_the_durable_url_is_not_a_run_id():
    from factory.runs import is_run_id

    made = [run_id_for_blob("wine_cultivar", "http://x/incoming/wine_cultivar/a.csv", '"0x1"'),
            run_id_for_key("nyc_taxi", "key-1"), "wine_cultivar-lost-123"]
    assert all(is_run_id(run_id) for run_id in made)
    assert not any(is_run_id(bad) for bad in ["#;V~bgF`lrqS", "a?b", "a/b", "", " x", "x y", "ü", "-x", "x" * 201])
