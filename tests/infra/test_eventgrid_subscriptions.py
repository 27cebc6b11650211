"""infra/eventgrid-subscriptions.json is the one source of the Event Grid subscriptions: the Bicep loads it with
loadJsonContent (so Azure and devhost say the same thing by construction), the Bicep consumes every field it
declares, and every subscription targets an Event Grid trigger the Functions app really declares."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
SUBSCRIPTIONS_FILE = INFRA / "eventgrid-subscriptions.json"

# Event Grid trigger names of the app, used only when function_app/ does not exist (it does in this repo).
FALLBACK_TRIGGERS = {"on_blob_created", "on_model_registered", "on_run_status_changed", "on_image_pushed"}
SUBSCRIPTION_KEYS = {"name", "source", "function", "includedEventTypes", "subjectBeginsWith", "subjectEndsWith",
                     "advancedFilters"}
OPERATOR_TYPES = {"NumberIn", "NumberNotIn", "NumberLessThan", "NumberGreaterThan", "NumberLessThanOrEquals",
                  "NumberGreaterThanOrEquals", "BoolEquals", "StringIn", "StringNotIn", "StringBeginsWith",
                  "StringEndsWith", "StringContains", "StringNotContains", "StringNotBeginsWith", "StringNotEndsWith",
                  "IsNullOrUndefined", "IsNotNull", "NumberInRange", "NumberNotInRange"}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return json.loads(SUBSCRIPTIONS_FILE.read_text())


def app_event_grid_triggers() -> set[str]:
    """Event Grid trigger names from `app.get_functions()`, or the agreed list when function_app/ is absent."""
    if not (REPO / "function_app").is_dir():
        return FALLBACK_TRIGGERS
    from function_app import app

    return {f.get_function_name() for f in app.get_functions()
            if any(b.type == "eventGridTrigger" for b in f.get_bindings())}


def test_main_bicep_loads_the_subscriptions_file_and_hands_it_to_the_event_grid_module(bicep) -> None:
    main = bicep["main.bicep"]
    loaders = {name: v["value"]["function"] for name, v in main["variables"].items()
               if isinstance(v["value"], dict) and v["value"].get("function", {}).get("type") == "load_json_content"}
    assert loaders == {"eventGridConfig": {"type": "load_json_content", "parameters": {
        "file_path": "eventgrid-subscriptions.json", "json_path": None, "encoding": None}}}
    assert (INFRA / loaders["eventGridConfig"]["parameters"]["file_path"]) == SUBSCRIPTIONS_FILE
    module = main["modules"]["eventGrid"]
    assert module["detail"]["path"] == "modules/eventgrid.bicep"
    assert module["config"]["params"]["config"] == "eventGridConfig"


def test_event_grid_module_makes_one_subscription_per_entry_to_the_named_function(by_type) -> None:
    (subs,) = by_type("Microsoft.EventGrid/systemTopics/eventSubscriptions")
    assert subs.file == "modules/eventgrid.bicep"
    assert subs.loop["detail"]["item_name"] == "sub"
    assert subs.loop["detail"]["array_name"]["operator"]["operands"] == {"operand_1": "config",
                                                                         "operand_2": "subscriptions"}
    destination = subs.body["properties"]["destination"]
    assert destination["endpointType"] == "AzureFunction"
    assert destination["properties"]["resourceId"] == "${functionAppId}/functions/${sub.function}"
    assert subs.body["name"] == "${namePrefix}-${sub.source}/${sub.name}"
    assert subs.body["properties"]["retryPolicy"].keys() == {"maxDeliveryAttempts", "eventTimeToLiveInMinutes"}
    dead_letter = subs.body["properties"]["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"] == {"type": "SystemAssigned"}
    assert dead_letter["deadLetterDestination"]["endpointType"] == "StorageBlob"


def test_bicep_consumes_every_field_the_file_declares(config) -> None:
    """A field the Bicep ignored would filter differently on Azure than in devhost."""
    text = (INFRA / "modules" / "eventgrid.bicep").read_text()
    for i, sub in enumerate(config["subscriptions"]):
        unknown = set(sub) - SUBSCRIPTION_KEYS
        assert unknown == set(), f"{SUBSCRIPTIONS_FILE.name}: subscriptions[{i}] has fields Bicep ignores: {unknown}"
    for key in SUBSCRIPTION_KEYS:
        assert f"sub.{key}" in text, f"eventgrid.bicep never reads sub.{key}"
    for key in set(config["delivery"]) - {"$comment"}:
        assert f"delivery.{key}" in text, f"eventgrid.bicep never reads delivery.{key}"


def test_every_subscription_targets_an_event_grid_trigger_of_the_app(config) -> None:
    triggers = app_event_grid_triggers()
    targets = {sub["function"] for sub in config["subscriptions"]}
    assert targets <= triggers, f"no Event Grid trigger in the app for {sorted(targets - triggers)}"
    assert triggers - targets == set(), "Event Grid triggers no subscription feeds on Azure"


def test_subscriptions_are_well_formed(config, bicep) -> None:
    sources = set(bicep["main.bicep"]["modules"]["eventGrid"]["config"]["params"]["sources"])
    topic_types = set(bicep["modules/eventgrid.bicep"]["variables"]["topicTypes"]["value"])
    assert sources == topic_types == {"incomingStorage", "amlWorkspace", "devRegistry"}
    names = [sub["name"] for sub in config["subscriptions"]]
    assert len(names) == len(set(names)), "subscription names must be unique"
    for sub in config["subscriptions"]:
        assert sub["source"] in sources, sub
        assert sub["includedEventTypes"], sub
        assert 3 <= len(sub["name"]) <= 64 and sub["name"].replace("-", "").isalnum(), sub["name"]
        for flt in sub.get("advancedFilters", []):
            assert flt["operatorType"] in OPERATOR_TYPES, flt


def test_blob_subscription_watches_the_container_bicep_creates(config, bicep) -> None:
    main = bicep["main.bicep"]
    container = main["variables"]["incomingContainer"]["value"]
    (blob,) = [s for s in config["subscriptions"] if s["source"] == "incomingStorage"]
    assert blob["subjectBeginsWith"] == f"/blobServices/default/containers/{container}/blobs/"
    (suffixes,) = [f["values"] for f in blob["advancedFilters"] if f == {**f, "operatorType": "StringEndsWith",
                                                                           "key": "subject"}]
    from factory.runs import UPLOAD_SUFFIXES
    assert tuple(suffixes) == UPLOAD_SUFFIXES
    created = main["modules"]["incomingStorage"]["config"]["params"]["containers"]
    assert created[0] == "incomingContainer", "the incoming storage account creates the watched container"
    dead_letter = created[1]["operator"]["operands"]  # eventGridConfig.delivery.deadLetterContainer
    assert dead_letter["operand_1"] == "eventGridConfig"
    assert dead_letter["operand_2"]["operator"]["operands"] == {"operand_1": "delivery",
                                                                "operand_2": "deadLetterContainer"}
    assert main["modules"]["eventGrid"]["config"]["params"]["deadLetterStorageName"]["operator"]["operands"][
        "operand_1"] == "incomingStorage"


def test_delivery_settings_are_within_event_grid_limits(config) -> None:
    delivery = config["delivery"]
    assert 1 <= delivery["maxDeliveryAttempts"] <= 30
    assert 1 <= delivery["eventTimeToLiveInMinutes"] <= 1440
    assert 1 <= delivery["maxEventsPerBatch"] <= 5000
    assert delivery["deadLetterContainer"].islower() and 3 <= len(delivery["deadLetterContainer"]) <= 63


def azure_matches(sub: dict[str, Any], event: dict[str, Any]) -> bool:
    """Event Grid's documented filter semantics for the fields the file uses: event type list, case-insensitive
    subject prefix/suffix, and advanced filters on `data.*` (all must hold; StringIn is case-insensitive)."""
    if event["eventType"].lower() not in {t.lower() for t in sub["includedEventTypes"]}:
        return False
    subject = event["subject"].lower()
    if not subject.startswith(sub.get("subjectBeginsWith", "").lower()):
        return False
    if not subject.endswith(sub.get("subjectEndsWith", "").lower()):
        return False
    for flt in sub.get("advancedFilters", []):
        value: Any = event
        for part in flt["key"].split("."):
            value = value.get(part) if isinstance(value, dict) else None
        assert flt["operatorType"] in ("StringIn", "StringEndsWith"), "extend azure_matches for this operator"
        candidates = [v.lower() for v in flt["values"]]
        if not isinstance(value, str):
            return False
        if flt["operatorType"] == "StringIn" and value.lower() not in candidates:
            return False
        if flt["operatorType"] == "StringEndsWith" and not value.lower().endswith(tuple(candidates)):
            return False
    return True


def test_factory_events_reach_the_intended_function_on_azure(config) -> None:
    """The events the factory waits for, built by factory/events.py in Azure's shapes, go where they should."""
    from factory import events

    def routed(event: dict[str, Any]) -> list[str]:
        return [sub["function"] for sub in config["subscriptions"] if azure_matches(sub, event)]

    blob = events.blob_created("stin", "incoming", "nyc_taxi/2026-11.CSV", "https://x/incoming/a.csv", "0x1", 10)
    assert routed(blob) == ["on_blob_created"]
    assert routed(events.blob_created("stin", "incoming", "nyc_taxi/readme.txt", "u", "0x1", 1)) == []
    for archive in ("digits/2026-11.zip", "shapes_detector/batch.TAR.GZ"):
        assert routed(events.blob_created("stin", "incoming", archive, "u", "0x1", 1)) == ["on_blob_created"]
    assert routed(events.blob_created("stin", "eventgrid-deadletter", "x/a.csv", "u", "0x1", 1)) == []
    assert routed(events.model_registered("ws", "nyc_taxi", 3, {"run_id": "r1"})) == ["on_model_registered"]
    assert routed(events.run_status_changed("ws", "nyc_taxi", "job1", "Failed", {})) == ["on_run_status_changed"]
    # every status reaches the function, which keeps only failures (no advanced filter: the docs write
    # data.RunStatus, the SDKs data.runStatus)
    assert routed(events.run_status_changed("ws", "nyc_taxi", "job1", "Completed", {})) == ["on_run_status_changed"]
    pushed = events.image_pushed("crmfdev", "crmfdev.azurecr.io", "nyc_taxi", "3", "sha256:" + "a" * 64, 1)
    assert routed(pushed) == ["on_image_pushed"]
