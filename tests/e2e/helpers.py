"""What the end-to-end tests look at: registries, the model registry, runs."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

from cli.client import FactoryClient, post_link
from contract import STAGES, Stage
from localstack.stack import LocalStack

# the stages a run of a model without ``rollout:`` goes through (every model here): all but the fleet rollout
STAGES_WITHOUT_ROLLOUT = tuple(s for s in STAGES if s is not Stage.ROLLOUT)
IMPATIENT_APPROVAL_HOURS = 0.02  # 72 s: the approval timeout of the wine_impatient_approval variant, long enough
# for the bad-link and forged-event checks made while it waits

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"])


def registry_tags(registry: str, repository: str) -> list[str]:
    try:
        with urllib.request.urlopen(f"http://{registry}/v2/{repository}/tags/list", timeout=10) as resp:
            return sorted(json.loads(resp.read()).get("tags") or [])
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return []
        raise


def registry_digest(registry: str, repository: str, reference: str) -> str | None:
    req = urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/{reference}", method="HEAD",
                                 headers={"Accept": MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.headers["Docker-Content-Digest"]
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return None
        raise


def prod_registry(stack: LocalStack) -> str:
    return stack.settings_env()["FACTORY_PROD_REGISTRY"]


def dev_registry(stack: LocalStack) -> str:
    return stack.settings_env()["FACTORY_DEV_REGISTRY"]


def model_versions(stack: LocalStack, model: str, run_id: str | None = None) -> list:
    """Registered versions of ``model`` in the local MLflow registry (optionally only this run's)."""
    from factory.adapters.local.mlflow_registry import MlflowModelRegistry
    from factory.settings import Settings

    registry = MlflowModelRegistry.from_settings(Settings.from_env(stack.settings_env()))
    versions = registry.client.search_model_versions(f"name='{model}'")
    return [v for v in versions if run_id is None or (v.tags or {}).get("run_id") == run_id]


def wait_for_stage(client: FactoryClient, run_id: str, stages: set[str], timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.run(run_id)
        if run and (run.get("stage") in stages or run["runtime_status"] in ("Completed", "Failed", "Terminated")):
            return run
        time.sleep(0.5)
    raise TimeoutError(f"run {run_id} did not reach {stages} within {timeout} s")


def approval_links(client: FactoryClient, run_id: str, timeout: float = 900) -> dict[str, str]:
    """Wait until the run asks for approval; its signed links."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.run(run_id) or {}
        approval = run.get("approval") or {}
        if approval.get("runtime_status") == "Running" and approval.get("stage") == "waiting for approval":
            assert "links" not in json.dumps(run)  # the status API never hands links out
            links = client.approval_links(run_id)
            if links:
                return links
        if run.get("runtime_status") in ("Completed", "Failed", "Terminated"):
            raise AssertionError(f"run {run_id} ended before asking for approval: {run.get('reason')}")
        time.sleep(0.5)
    raise TimeoutError(f"run {run_id} did not ask for approval within {timeout} s")


def approve(client: FactoryClient, run_id: str, approver: str = "alice@example.com", timeout: float = 900) -> int:
    links = approval_links(client, run_id, timeout)
    status, _ = post_link(links["approve"], headers={"X-MS-CLIENT-PRINCIPAL-NAME": approver})
    return status


def sample(stack: LocalStack, model: str) -> Path:
    from factory.catalog import load_model_spec

    return load_model_spec(stack.models_dir / model).data.sample  # type: ignore[attr-defined]
