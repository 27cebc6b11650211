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


def _validated(app_stack, name: str) -> tuple[str, dict]:
    from factory.steps import run_steps

    store = _store(app_stack)
    url = store.upload("incoming", f"wine_cultivar/{name}-{time.monotonic_ns()}.csv", GOOD)
    run_id = f"wine_cultivar-{name}-{time.monotonic_ns()}"
    checked = run_steps().validate_data(RunRequest(run_id, "wine_cultivar", url,
                                                   store.properties(url).etag)).to_dict()
    assert checked["ok"], checked
    return run_id, checked


def _pinned_store(app_stack):
    from factory.adapters.local.blob_pins import PinnedBlobStorage
    from factory.settings import Settings

    return PinnedBlobStorage.from_settings(Settings.from_env(app_stack.settings_env()))


def test_a_pinned_blob_azurite_lost_is_read_from_the_kept_copy_and_put_back(app_stack, app_env, tmp_path):
    """What Azurite SIGKILLed within 5 s of the pin leaves: the blob gone from its metadata. The kept copy in the
    state folder (0600) is uploaded again, training reads the validated bytes, and the blob is back."""
    from factory.pinning import check_pinned

    run_id, checked = _validated(app_stack, "lost")
    pinned, store = checked["pinned_uri"], _pinned_store(app_stack)
    ref = store._blob(pinned)
    kept = store.kept_copy(ref.container_name, ref.blob_name)
    assert kept is not None and kept.is_file() and kept.stat().st_mode & 0o777 == 0o600
    assert kept.is_relative_to(app_stack.state_dir)
    ref.delete_blob()
    data = fetch_data(pinned, tmp_path / "train-data", store, run_id)
    check_pinned(data, checked["sha256"])  # the validated bytes, not just any bytes
    assert store.properties(pinned).size == checked["size"]  # Azurite holds the blob again


def test_a_pinned_blob_gone_with_its_kept_copy_is_named_with_the_command_that_retries(app_stack, app_env,
                                                                                        tmp_path):
    run_id, checked = _validated(app_stack, "gone")
    pinned, store = checked["pinned_uri"], _pinned_store(app_stack)
    ref = store._blob(pinned)
    kept = store.kept_copy(ref.container_name, ref.blob_name)
    assert kept is not None
    ref.delete_blob()
    kept.unlink()  # the state folder removed too: nothing left to restore from
    with pytest.raises(PipelineError) as gone:
        fetch_data(pinned, tmp_path / "train-data", store, run_id)
    message = str(gone.value)
    assert pinned in message and "is gone from the blob store" in message
    assert f"`model-factory retry {run_id}`" in message and "BlobNotFound" not in message


def test_only_validated_blobs_with_plain_names_are_kept(tmp_path):
    from azure.storage.blob import BlobServiceClient

    from factory.adapters.azure.blob import AZURITE_CONNECTION_STRING
    from factory.adapters.local.blob_pins import PinnedBlobStorage

    store = PinnedBlobStorage(BlobServiceClient.from_connection_string(AZURITE_CONNECTION_STRING), tmp_path / "pins")
    assert store.kept_copy("validated", "run-1/data.csv") == tmp_path / "pins" / "validated" / "run-1" / "data.csv"
    for container, name in (("incoming", "m/data.csv"), ("validated", "../escape.csv"), ("validated", "a/../../b"),
                            ("validated", ""), ("validated", "a\\..\\b"), ("validated", "/etc/passwd")):
        kept = store.kept_copy(container, name)
        assert kept is None or kept.resolve().is_relative_to(tmp_path / "pins" / "validated"), (container, name)
    assert store.kept_copy("validated", "../escape.csv") is None and store.kept_copy("incoming", "m/x.csv") is None


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
