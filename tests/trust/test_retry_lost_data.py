"""A run whose validated copy is gone says so plainly, and one command starts it again on its upload: on the real
app (devhost) and Azurite."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import pytest

from cli.main import main
from contract import RunRequest
from factory.adapters.local.pipeline_runner import PipelineError, fetch_data
from tests.trust.conftest import csv_file
from tests.trust.test_data_source import GOOD, HEADER_ONLY, _client, _store, _wait_end


def test_a_pinned_copy_gone_from_the_store_is_named_with_the_command_that_retries(app_stack, app_env, tmp_path):
    from factory.steps import run_steps

    store = _store(app_stack)
    url = store.upload("incoming", f"wine_cultivar/lost-{time.monotonic_ns()}.csv", GOOD)
    run_id = f"wine_cultivar-lost-{time.monotonic_ns()}"
    checked = run_steps().validate_data(RunRequest(run_id, "wine_cultivar", url,
                                                   store.properties(url).etag)).to_dict()
    assert checked["ok"], checked
    pinned = checked["pinned_uri"]
    store._blob(pinned).delete_blob()  # what a store crash right after the pin leaves
    with pytest.raises(PipelineError) as gone:
        fetch_data(pinned, tmp_path / "train-data", store, run_id)
    message = str(gone.value)
    assert pinned in message and "is gone from the blob store" in message
    assert f"`model-factory retry {run_id}`" in message and "BlobNotFound" not in message


def test_retry_starts_an_ended_run_again_on_its_upload_once(app_stack, capsys):
    client, store = _client(app_stack), _store(app_stack)
    name = f"wine_cultivar/retry-{time.monotonic_ns()}.csv"
    store.upload("incoming", name, csv_file(app_stack.state_dir, HEADER_ONLY, "retry.csv"))
    status, first = client.start_run("wine_cultivar", name)
    assert status == 202, first
    ended = _wait_end(client, first["id"])
    state = ["--state-dir", str(app_stack.state_dir)]
    (app_stack.state_dir / "stack.json").write_text(json.dumps({"ports": asdict(app_stack.ports)}))  # as `up` does
    assert main(["retry", first["id"], *state]) == 0
    out = capsys.readouterr().out
    retried = out.split(" retried as run ", 1)[1].split()[0]
    assert retried != first["id"]
    again = _wait_end(client, retried)
    assert again["lineage"]["data_uri"] == ended["lineage"]["data_uri"]
    assert main(["retry", first["id"], *state]) == 0  # the same retry: the same run, not a third
    assert capsys.readouterr().out.split(" retried as run ", 1)[1].split()[0] == retried
    assert len([r for r in client.runs() if r["run_id"] in (first["id"], retried)]) == 2
    assert main(["retry", "no-such-run", *state]) == 1
