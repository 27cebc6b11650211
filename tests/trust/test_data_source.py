"""Data only from the watched place, trained exactly as validated: on the real app (devhost) and Azurite,
with a loopback listener standing in for another host to prove no credential ever reaches it."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from cli.client import FactoryClient
from contract import RunRequest
from factory import events
from factory.runs import run_id_for_blob
from tests.trust.conftest import csv_file

GOOD = Path(__file__).resolve().parents[2] / "models/wine_cultivar/data/wine.csv"
HEADER_ONLY = "alcohol,malic_acid\n1,2\n"


def _client(stack) -> FactoryClient:
    return FactoryClient(stack.base_url, stack.function_key)


def _store(stack):
    from factory.adapters.azure.blob import BlobStorage
    from factory.settings import Settings

    return BlobStorage.from_settings(Settings.from_env(stack.settings_env()))


def _wait_end(client: FactoryClient, run_id: str, timeout: float = 60) -> dict:
    return client.wait(run_id, timeout=timeout, poll=0.3)


def test_post_runs_answers_400_for_data_outside_the_watched_place_and_no_credential_leaves(app_stack, listener):
    client, store = _client(app_stack), _store(app_stack)
    account = store.account_url
    host = urllib.parse.urlsplit(account).netloc
    refused = [
        "/etc/passwd", str(app_stack.state_dir / "approval-signing-key"), "file:///etc/passwd",
        listener.url("/devstoreaccount1/incoming/wine_cultivar/x.csv"),  # another host
        f"http://{host}/otheraccount/incoming/wine_cultivar/x.csv",  # another account, same host
        f"{account}/validated/wine_cultivar/x.csv",  # another container
        f"{account}/incoming/nyc_taxi/x.csv", "nyc_taxi/x.csv",  # another model's prefix
        "wine_cultivar/../nyc_taxi/x.csv", "incoming/wine_cultivar/", f"{account}/incoming/wine_cultivar/x.csv?sv=1",
        f"http://user:pw@{host}/devstoreaccount1/incoming/wine_cultivar/x.csv",
    ]
    for data in refused:
        status, body = client._call("POST", "/api/runs", {"model": "wine_cultivar", "data": data})
        assert status == 400, (data, body)
        error = body["error"]
        assert "container 'incoming'" in error and account in error and "'wine_cultivar/'" in error
        assert "root:" not in json.dumps(body)
    assert listener.requests == []
    # the same, as a blob of the watched place: accepted (and validated, here rejected for its content)
    store.upload("incoming", "wine_cultivar/manual-bad.csv", csv_file(app_stack.state_dir, HEADER_ONLY, "b.csv"))
    for data in ("wine_cultivar/manual-bad.csv", f"{account}/incoming/wine_cultivar/manual-bad.csv"):
        status, body = client.start_run("wine_cultivar", data)
        assert status == 202, body
        run = _wait_end(client, body["id"])
        assert (run["result"], run["ended_at_stage"]) == ("Rejected", "validate")
        assert "incoming/wine_cultivar/manual-bad.csv" in run["reason"]


def test_a_run_started_straight_through_durable_with_foreign_data_reads_nothing(app_stack, listener):
    client = _client(app_stack)
    api = f"{app_stack.base_url}/runtime/webhooks/durabletask/orchestrators/model_factory_run"
    key = (app_stack.state_dir / "devhost" / "durabletask_extension.key").read_text().strip()
    for n, data in enumerate([listener.url("/devstoreaccount1/incoming/wine_cultivar/x.csv"), "/etc/passwd",
                              str(app_stack.state_dir / "approval-signing-key")]):
        run_id = f"wine_cultivar-forged-{n}-{time.monotonic_ns()}"
        run = RunRequest(run_id=run_id, model="wine_cultivar", data_uri=data, data_etag='"0x1"')
        resp = requests.post(f"{api}/{run_id}", params={"code": key}, json=run.to_dict(), timeout=10)
        assert resp.status_code == 202, resp.text
        ended = _wait_end(client, run_id)
        assert (ended["result"], ended["ended_at_stage"]) == ("Rejected", "validate")
        assert "container 'incoming'" in ended["reason"] and "root:" not in ended["reason"]
        key_text = (app_stack.state_dir / "approval-signing-key").read_text().strip()
        assert key_text not in json.dumps(ended)
    assert listener.requests == [] and listener.credentials_seen() == []


def test_blob_created_derives_the_blob_from_its_subject_and_refuses_a_disagreeing_url(app_stack, listener):
    client, store = _client(app_stack), _store(app_stack)
    endpoint = app_stack.settings_env()["FACTORY_EVENTGRID_ENDPOINT"]
    name = f"wine_cultivar/event-{time.monotonic_ns()}.csv"
    good_url = store.url_of("incoming", name)
    elsewhere = listener.url(f"/devstoreaccount1/incoming/{name}")
    forged = events.blob_created("devstoreaccount1", "incoming", name, elsewhere, '"0x8D1"', 10)
    events.publish([forged], endpoint, key=app_stack.eventgrid_key)
    time.sleep(2)
    assert client.run(run_id_for_blob("wine_cultivar", good_url, '"0x8D1"')) is None
    assert all(not r["run_id"].startswith("wine_cultivar-") or r["lineage"].get("data_uri") != forged["data"]["url"]
               for r in client.runs())
    # the same event naming the watched blob starts the run (here for a blob that is not there: Rejected)
    honest = events.blob_created("devstoreaccount1", "incoming", name, good_url, '"0x8D1"', 10)
    events.publish([honest], endpoint, key=app_stack.eventgrid_key)
    deadline = time.monotonic() + 30
    run_id = run_id_for_blob("wine_cultivar", good_url, '"0x8D1"')
    while client.run(run_id) is None:
        assert time.monotonic() < deadline, "the honest BlobCreated event started no run"
        time.sleep(0.3)
    run = _wait_end(client, run_id)
    assert run["result"] == "Rejected" and "no such blob" in run["reason"]
    assert listener.requests == []


def test_an_overwrite_between_validate_and_train_trains_the_validated_bytes(app_env, app_stack, tmp_path):
    from factory.adapters.local.pipeline_runner import PipelineError, fetch_data, run_pipeline
    from factory.catalog import load_catalog
    from factory.ports import TrainingRequest
    from factory.steps import run_steps

    store = _store(app_stack)
    name = f"wine_cultivar/pin-{time.monotonic_ns()}.csv"
    url = store.upload("incoming", name, GOOD)
    etag = store.properties(url).etag
    run_id = f"wine_cultivar-pin-{time.monotonic_ns()}"
    checked = run_steps().validate_data(RunRequest(run_id, "wine_cultivar", url, etag)).to_dict()
    good_sha = hashlib.sha256(GOOD.read_bytes()).hexdigest()
    assert checked["ok"], checked
    assert checked["sha256"] == good_sha
    assert checked["pinned_uri"].startswith(f"{store.account_url}/validated/{run_id}/")
    assert not (app_stack.state_dir / "runs" / run_id / "data").exists()  # no local copy outlives validation
    # the upload is overwritten (with data validation would reject) after validation, before training
    store.upload("incoming", name, csv_file(tmp_path, HEADER_ONLY))
    trained = fetch_data(checked["pinned_uri"], tmp_path / "train-data", store)
    assert hashlib.sha256(trained.read_bytes()).hexdigest() == good_sha
    # a run that validates only now sees the overwrite for what it is: not the upload that started it
    late = run_steps().validate_data(RunRequest(run_id + "-late", "wine_cultivar", url, etag)).to_dict()
    assert not late["ok"] and "was overwritten after the upload that started this run" in late["errors"][0]
    # and if the pinned copy itself is changed, the training step refuses before any step runs
    pinned_name = urllib.parse.unquote(urllib.parse.urlsplit(checked["pinned_uri"]).path).split("/validated/", 1)[1]
    store.upload("validated", pinned_name, csv_file(tmp_path, HEADER_ONLY, "tamper.csv"))
    spec = load_catalog(app_env["FACTORY_MODELS_DIR"])["wine_cultivar"]
    request = TrainingRequest(model="wine_cultivar", run_id=run_id, data_uri=checked["pinned_uri"],
                              data_sha256=good_sha)
    with pytest.raises(PipelineError, match="is not the validated"):
        run_pipeline(spec, request, tmp_path / "run", app_stack.state_dir, blob_store=store)
    assert not (tmp_path / "run" / "steps").exists()
