"""What a run asks when its event is late, against the real local registries: a Distribution registry holding
an image pushed under the run's tag, and MLflow's model registry holding a version tagged with the run."""

from __future__ import annotations

from contract import ReconcileRequest
from factory.adapters.local.host import free_port
from factory.adapters.local.mlflow_registry import MlflowModelRegistry
from factory.adapters.local.registry import LocalImageRegistry
from factory.reconciling import find_image, find_model_version
from localstack.registry import start_registry
from tests.packaging.helpers import push_tiny_image


def test_the_image_pushed_under_the_runs_tag_is_found_by_its_digest(tmp_path):
    running = start_registry("dev", free_port(), tmp_path)
    try:
        pushed = push_tiny_image(running.address, "models/wine-cultivar", "wine-run-1")
        push_tiny_image(running.address, "models/wine-cultivar", "wine-run-0", b"another")
        registry = LocalImageRegistry(dev=running.address, prod=running.address)
        found = find_image(registry, ReconcileRequest("wine-run-1", repository="models/wine-cultivar"))
        assert found.found and found.event == {"repository": "models/wine-cultivar", "tag": "wine-run-1",
                                               "digest": pushed}
        assert not find_image(registry, ReconcileRequest("wine-run-2", repository="models/wine-cultivar")).found
        assert not find_image(registry, ReconcileRequest("wine-run-1", repository="models/other")).found
    finally:
        running.stop()


def test_the_version_tagged_with_the_run_is_found_and_no_other(tmp_path):
    registry = MlflowModelRegistry(f"sqlite:///{tmp_path / 'mlflow.db'}")
    registry.client.create_registered_model("wine_cultivar")
    for run_id in ("wine-run-0", "wine-run-1"):
        registry.client.create_model_version("wine_cultivar", (tmp_path / run_id).as_uri(), tags={"run_id": run_id})
    found = find_model_version(registry, ReconcileRequest("wine-run-1", model="wine_cultivar"))
    assert found.found and (found.event["version"], found.event["tags"]["run_id"]) == ("2", "wine-run-1")
    assert not find_model_version(registry, ReconcileRequest("wine-run-9", model="wine_cultivar")).found
