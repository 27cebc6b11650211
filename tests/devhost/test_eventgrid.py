"""Event Grid: the webhook (handshake, both schemas, aeg-event-type) and the local topic (filters, retries,
dead letters)."""

from __future__ import annotations

import json
import time
import uuid

import requests
from devhost_testkit import MASTER_KEY, Client

from devhost.eventgrid import Subscription


def _eg_event(event_type: str, subject: str, data: dict, eid: str | None = None) -> dict:
    return {"id": eid or uuid.uuid4().hex, "eventType": event_type, "subject": subject, "data": data,
            "dataVersion": "1", "eventTime": "2026-11-26T07:00:00Z", "topic": "/subscriptions/x/local"}


def _wait_lines(dh: Client, name: str, count: int, timeout: float = 10) -> list[dict]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = dh.lines(name)
        if len(rows) >= count:
            return rows
        time.sleep(0.02)
    return dh.lines(name)


def test_subscription_validation_handshake(dh1: Client) -> None:
    code = uuid.uuid4().hex
    event = _eg_event("Microsoft.EventGrid.SubscriptionValidationEvent", "", {"validationCode": code})
    resp = dh1.eg.post(f"{dh1.base}/runtime/webhooks/eventgrid", params={"functionName": "on_blob_created"},
                         json=[event], headers={"aeg-event-type": "SubscriptionValidation"})
    assert resp.status_code == 200 and resp.json() == {"validationResponse": code}


def test_webhook_delivers_event_grid_and_cloud_events(dh1: Client) -> None:
    eid, cid = uuid.uuid4().hex, uuid.uuid4().hex
    url = f"{dh1.base}/runtime/webhooks/eventgrid"
    resp = dh1.eg.post(url, params={"functionName": "on_run_status"}, headers={"aeg-event-type": "Notification"},
                         json=[_eg_event("Custom.Type", "/x", {"RunStatus": "Running"}, eid)])
    assert resp.status_code == 202
    cloud = {"specversion": "1.0", "id": cid, "source": "/local", "type": "Custom.Cloud", "subject": "s",
             "data": {"k": 1}}
    resp = dh1.eg.post(url, params={"functionName": "on_run_status"}, json=cloud)
    assert resp.status_code == 202
    rows = {r["id"]: r for r in dh1.lines("eg-on_run_status.jsonl")}
    assert rows[eid]["data"] == {"RunStatus": "Running"}
    assert rows[cid]["cloud"] and rows[cid]["data"] == {"k": 1}


def test_webhook_refuses_unknown_function_and_bad_key(dh1: Client) -> None:
    url = f"{dh1.base}/runtime/webhooks/eventgrid"
    assert dh1.eg.post(url, params={"functionName": "nope"}, json=[]).status_code == 404
    bad = requests.post(url, params={"functionName": "on_run_status", "code": "wrong"}, json=[])
    assert bad.status_code == 401
    ok = requests.post(url, params={"functionName": "on_run_status", "code": MASTER_KEY}, json=[])
    assert ok.status_code == 202


def test_topic_routes_by_type_subject_and_advanced_filters(dh1: Client) -> None:
    tag = uuid.uuid4().hex
    events = [
        _eg_event("Microsoft.Storage.BlobCreated", "/blobServices/default/containers/incoming/blobs/m/a.csv",
                  {"tag": tag, "case": "match"}),
        _eg_event("Microsoft.Storage.BlobCreated", "/blobServices/default/containers/incoming/blobs/m/a.txt",
                  {"tag": tag, "case": "wrong suffix"}),
        _eg_event("Microsoft.Storage.BlobCreated", "/blobServices/default/containers/other/blobs/m/a.csv",
                  {"tag": tag, "case": "wrong prefix"}),
        _eg_event("Microsoft.Storage.BlobDeleted", "/blobServices/default/containers/incoming/blobs/m/a.csv",
                  {"tag": tag, "case": "wrong type"}),
        _eg_event("Microsoft.MachineLearningServices.RunStatusChanged", "runs/1", {"tag": tag, "RunStatus": "Failed"}),
        _eg_event("Microsoft.MachineLearningServices.RunStatusChanged", "runs/2",
                  {"tag": tag, "RunStatus": "Completed"}),
    ]
    resp = dh1.eg.post(f"{dh1.base}/runtime/eventgrid/topic", json=events)
    assert resp.status_code == 200 and resp.json() == {"accepted": 6, "deliveries": 2}
    deadline = time.time() + 10
    while time.time() < deadline:
        blobs = [r for r in dh1.lines("eg-on_blob_created.jsonl") if r["data"].get("tag") == tag]
        runs = [r for r in dh1.lines("eg-on_run_status.jsonl") if r["data"].get("tag") == tag]
        if blobs and runs:
            break
        time.sleep(0.02)
    time.sleep(0.2)
    blobs = [r for r in dh1.lines("eg-on_blob_created.jsonl") if r["data"].get("tag") == tag]
    runs = [r for r in dh1.lines("eg-on_run_status.jsonl") if r["data"].get("tag") == tag]
    assert [r["data"]["case"] for r in blobs] == ["match"]
    assert [r["data"]["RunStatus"] for r in runs] == ["Failed"]


def test_topic_retries_with_back_off_then_dead_letters(dh1: Client, session_host) -> None:
    tag = uuid.uuid4().hex
    ok_event = _eg_event("Test.Flaky", "s", {"tag": tag, "succeed_on": 2})
    resp = dh1.eg.post(f"{dh1.base}/runtime/eventgrid/topic", json=[ok_event])
    assert resp.status_code == 200
    rows = _wait_lines(dh1, "eg-on_flaky.jsonl", 2)
    assert [r["id"] for r in rows].count(ok_event["id"]) == 2  # failed once, delivered on the retry
    dead_event = _eg_event("Test.Flaky", "s", {"tag": tag, "succeed_on": 99})
    dh1.eg.post(f"{dh1.base}/runtime/eventgrid/topic", json=[dead_event])
    dead_file = session_host.state_dir / "eventgrid-deadletter.jsonl"
    deadline = time.time() + 10
    while time.time() < deadline and not (dead_file.exists() and dead_event["id"] in dead_file.read_text()):
        time.sleep(0.05)
    dead = [json.loads(x) for x in dead_file.read_text().splitlines()]
    record = next(d for d in dead if d["event"]["id"] == dead_event["id"])
    assert record["attempts"] == 3 and "on_flaky failure" in record["lastError"]
    assert [r["id"] for r in dh1.lines("eg-on_flaky.jsonl")].count(dead_event["id"]) == 3


def test_topic_refuses_malformed_events(dh1: Client) -> None:
    resp = dh1.eg.post(f"{dh1.base}/runtime/eventgrid/topic", json=[{"id": "1", "eventType": "x"}])
    assert resp.status_code == 400 and "subject" in resp.text


def test_subscription_filter_semantics() -> None:
    sub = Subscription("s", "f", ["A.B"], "/pre", ".csv",
                       advanced_filters=[{"operatorType": "StringNotIn", "key": "data.state", "values": ["bad"]}])
    assert sub.matches({"eventType": "a.b", "subject": "/PRE/x.CSV", "data": {"state": "good"}})
    assert not sub.matches({"eventType": "A.B", "subject": "/pre/x.csv", "data": {"state": "bad"}})
    assert not sub.matches({"eventType": "A.C", "subject": "/pre/x.csv", "data": {}})
    cloud = Subscription("c", "f", ["T"])
    assert cloud.matches({"specversion": "1.0", "type": "T", "subject": "x"})


def test_topic_event_starts_an_orchestration_through_the_durable_client(dh1: Client) -> None:
    iid = f"eg-{uuid.uuid4().hex[:8]}"
    resp = dh1.eg.post(f"{dh1.base}/runtime/eventgrid/topic",
                         json=[_eg_event("Test.StartChain", "s", {"instance_id": iid, "n": 4})])
    assert resp.status_code == 200 and resp.json()["deliveries"] == 1
    deadline = time.time() + 10
    while dh1.http.get(f"{dh1.base}/runtime/webhooks/durabletask/instances/{iid}").status_code == 404:
        assert time.time() < deadline
        time.sleep(0.05)
    assert dh1.wait(iid)["output"] == 4


def test_cloudevents_webhook_validation_with_options(dh1: Client) -> None:
    resp = requests.options(f"{dh1.base}/runtime/webhooks/eventgrid", params={"functionName": "on_run_status"},
                            headers={"WebHook-Request-Origin": "eventgrid.azure.net"})
    assert resp.status_code == 200 and resp.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"


def test_topic_delivers_each_event_exactly_once_under_load(dh1: Client) -> None:
    tag = uuid.uuid4().hex
    events = [_eg_event("Microsoft.Storage.BlobCreated", f"/blobServices/default/containers/incoming/blobs/m/{i}.csv",
                        {"tag": tag, "case": "match"}) for i in range(150)]
    for start in range(0, len(events), 10):
        resp = dh1.eg.post(f"{dh1.base}/runtime/eventgrid/topic", json=events[start:start + 10])
        assert resp.status_code == 200
    deadline = time.time() + 30
    while time.time() < deadline:
        rows = [r for r in dh1.lines("eg-on_blob_created.jsonl") if r["data"].get("tag") == tag]
        if len(rows) >= len(events):
            break
        time.sleep(0.05)
    time.sleep(1.0)  # let a duplicate, if any, land
    ids = [r["id"] for r in dh1.lines("eg-on_blob_created.jsonl") if r["data"].get("tag") == tag]
    assert sorted(ids) == sorted(e["id"] for e in events)
