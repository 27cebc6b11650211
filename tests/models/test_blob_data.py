"""A blob URL as training data: the detached runner downloads it with the blob store adapter (Azurite here)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from models_testlib import MODELS, REPO

from factory.adapters.azure.blob import BlobStorage
from factory.adapters.local.host import free_port
from factory.adapters.local.mlflow_registry import MlflowModelRegistry, default_tracking_uri
from factory.adapters.local.pipeline import LocalPipelineTrainer
from factory.ports import TrainingRequest

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _azurite() -> str | None:
    for candidate in (REPO / "node_modules/.bin/azurite-blob", shutil.which("azurite-blob")):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


@pytest.mark.slow
def test_a_blob_url_is_downloaded_by_the_run_and_recorded_on_the_version(tmp_path):
    azurite = _azurite()
    if azurite is None:
        pytest.skip("Azurite is not installed (make setup runs npm install)")
    port = free_port()
    server = subprocess.Popen([azurite, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
                               "--skipApiVersionCheck", "--silent"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/devstoreaccount1?comp=list", timeout=1)
            except urllib.error.HTTPError:
                break  # it answers (403 without a signature): up
            except OSError:
                assert time.monotonic() < deadline, "Azurite did not start"
                time.sleep(0.3)
        conn = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};"
                f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
        from azure.storage.blob import BlobServiceClient

        store = BlobStorage(BlobServiceClient.from_connection_string(conn))
        expected_sha = hashlib.sha256((MODELS / "wine_cultivar/data/wine.csv").read_bytes()).hexdigest()
        url = store.upload("incoming", "wine_cultivar/2026-11.csv", MODELS / "wine_cultivar/data/wine.csv")
        trainer = LocalPipelineTrainer(tmp_path / "state", MODELS, environ={
            **os.environ, "FACTORY_BACKEND": "local", "FACTORY_BLOB_CONNECTION_STRING": conn})
        job = trainer.wait(trainer.submit(TrainingRequest(model="wine_cultivar", run_id="blob-1", data_uri=url,
                                                          data_etag="0x1", data_sha256=expected_sha)
                                            ).job_name, timeout=300)
    finally:
        server.terminate()
        server.wait(10)
    assert job.status == "Completed", job.error
    # the run trained on the blob's bytes (pinned: any other bytes are refused), then removed its copy
    assert not (trainer.run_dir(job.job_name) / "data").exists()
    versions = MlflowModelRegistry(default_tracking_uri(tmp_path / "state")).versions("wine_cultivar")
    (version,) = [v for v in versions if v.tags.get("run_id") == "blob-1"]
    assert version.tags["data_uri"] == url
