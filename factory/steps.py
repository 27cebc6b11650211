"""What each activity of a run does: one call into a port (via ``factory.backends.services()``) plus the
pure domain around it. Every step is idempotent: activities are delivered at least once.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

from factory import gate
from factory.approval import approval_links, check_key
from factory.backends import services
from factory.catalog import ModelSpec, load_catalog
from factory.ports import ImageRef, TrainingRequest, VerificationFailed
from factory.runs import RunPlan, RunRequest

DEFAULT_APPROVAL_TIMEOUT_S = 24 * 3600
DEFAULT_BUILD_TIMEOUT_S = 1800


def _settings():
    return services().settings


def catalog() -> dict[str, ModelSpec]:
    """The model catalog, read anew each call (adding a model folder needs no restart)."""
    return load_catalog(_settings().models_dir)


def known_models() -> set[str]:
    return set(catalog())


@functools.cache
def source_commit() -> str:
    """The commit the factory's models come from: ``FACTORY_SOURCE_COMMIT`` or the checkout's HEAD."""
    commit = _settings().env("FACTORY_SOURCE_COMMIT", "")
    if commit:
        return commit
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=_settings().models_dir)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def approval_keys() -> list[str]:
    """The accepted approval signing keys: the current one, then the previous one during rotation."""
    env = _settings().env
    keys = [check_key(env("APPROVAL_SIGNING_KEY", ""))]
    previous = env("APPROVAL_SIGNING_KEY_PREVIOUS", "")
    if previous:
        keys.append(check_key(previous, "APPROVAL_SIGNING_KEY_PREVIOUS"))
    return keys


def dev_registry() -> str:
    """The dev registry's host: ``FACTORY_DEV_REGISTRY`` locally, ``<FACTORY_DEV_ACR_NAME>.azurecr.io`` on Azure."""
    env = _settings().env
    return env("FACTORY_DEV_REGISTRY", "") or f"{env('FACTORY_DEV_ACR_NAME')}.azurecr.io"


def _run_dir(run_id: str) -> Path:
    return _settings().state_dir / "runs" / run_id


def plan_run(req: dict[str, Any]) -> dict[str, Any]:
    """Resolve the run's timeouts and names from ``model.yaml`` and settings."""
    spec = catalog()[RunRequest.from_dict(req).model]
    env = _settings().env
    return RunPlan(
        training_timeout_s=spec.training.timeout_seconds,
        build_timeout_s=int(env("FACTORY_BUILD_TIMEOUT_SECONDS", str(DEFAULT_BUILD_TIMEOUT_S))),
        edge_poll_s=spec.edge.poll_seconds,
        edge_timeout_s=spec.edge.timeout_seconds,
        edge_max_p95_ms=spec.edge.max_p95_ms,
        approval_timeout_s=(round(spec.approval.timeout_hours * 3600) if spec.approval.timeout_hours else
                            int(env("APPROVAL_TIMEOUT_SECONDS", str(DEFAULT_APPROVAL_TIMEOUT_S)))),
        image_repository=spec.image.repository,
        key_metric=spec.key_metric,
        activity_attempts=int(env("FACTORY_ACTIVITY_ATTEMPTS", "3")),
        activity_retry_ms=int(float(env("FACTORY_ACTIVITY_RETRY_SECONDS", "5")) * 1000),
    ).to_dict()


def _display_name(uri: str) -> str:
    """``incoming/nyc_taxi/x.csv`` for a blob URL (path-style Azurite URLs included), the path otherwise."""
    if not uri.startswith(("http://", "https://")):
        return uri
    path = urllib.parse.unquote(urllib.parse.urlparse(uri).path).lstrip("/")
    parts = path.split("/")
    if parts and parts[0] == "devstoreaccount1":
        parts = parts[1:]
    return "/".join(parts)


def validate_data(req: dict[str, Any]) -> dict[str, Any]:
    """Fetch the uploaded CSV and check it against the model's schema; ``{ok, errors, etag, size}``."""
    from factory.validation import validate_csv

    run = RunRequest.from_dict(req)
    spec = catalog()[run.model]
    name = _display_name(run.data_uri)
    local = _run_dir(run.run_id) / "data.csv"
    etag = run.data_etag
    if run.data_uri.startswith(("http://", "https://")):
        props = services().blob_store.properties(run.data_uri)
        etag = etag or str(props["etag"])
        if props["size"] > spec.data.max_bytes:
            return {"ok": False, "etag": etag, "size": props["size"], "errors": [
                f"{run.model} upload {name}: {props['size']} bytes is over the limit of {spec.data.max_mb:g} MB"]}
        services().blob_store.download(run.data_uri, local)
    else:
        source = Path(run.data_uri)
        if not source.is_file():
            return {"ok": False, "etag": etag, "size": 0, "errors": [f"{run.model} upload {name}: no such file"]}
        local = source
    errors = validate_csv(local, spec, name)
    return {"ok": not errors, "etag": etag, "size": local.stat().st_size, "errors": [str(e) for e in errors]}


def submit_training(req: dict[str, Any]) -> dict[str, Any]:
    """Submit the model's pipeline (idempotent per run id)."""
    run = RunRequest.from_dict(req)
    job = services().trainer.submit(TrainingRequest(model=run.model, run_id=run.run_id, data_uri=run.data_uri,
                                                    data_etag=run.data_etag, source_commit=run.source_commit))
    return job.to_dict()


def evaluate_gate(req: dict[str, Any]) -> dict[str, Any]:
    """The registered version against the model's gate and its production version."""
    spec = catalog()[req["model"]]
    registry = services().model_registry
    challenger = registry.get(req["model"], str(req["version"]))
    production = registry.production(req["model"])
    champion = None
    if production is not None and production.version != challenger.version:
        champion = {"version": production.version, "metrics": production.metrics}
    result = gate.evaluate(challenger.metrics, spec.gate.thresholds, spec.gate.metric, spec.gate.higher_is_better,
                           spec.gate.max_regression, champion)
    return {**result.to_dict(), "metrics": challenger.metrics}


def build_image(req: dict[str, Any]) -> dict[str, Any]:
    """Assemble the context, build, verify and push to the dev registry under the run id's tag.

    ``{ok, image, digest}``, or ``{ok: False, reason, logs}`` when verification failed (nothing stored).
    """
    from factory.packaging.context import assemble, model_labels, scoring_check

    spec = catalog()[req["model"]]
    work = _run_dir(req["run_id"]) / "image"
    shutil.rmtree(work, ignore_errors=True)  # a retried activity starts from a clean folder
    artifacts = services().model_registry.download(req["model"], str(req["version"]), work / "artifacts")
    labels = model_labels(req["model"], str(req["version"]), req["run_id"], req.get("source_commit", ""))
    context = assemble(spec.folder, artifacts, work / "context", labels)
    ref = ImageRef(registry=dev_registry(), repository=req["repository"], tag=req["run_id"])
    try:
        built = services().image_builder.build_verify_push(context, ref, scoring_check(spec.folder))
    except VerificationFailed as failed:
        return {"ok": False, "reason": str(failed), "logs": failed.logs[-4000:]}
    image = ImageRef(ref.registry, ref.repository, digest=built.digest)
    return {"ok": True, "image": str(image), "digest": built.digest}


def request_approval(req: dict[str, Any]) -> dict[str, str]:
    """Sign the approve/reject links for this run, version and digest; notify the approver once."""
    env = _settings().env
    base = env("APPROVAL_BASE_URL", "") or f"http://{env('WEBSITE_HOSTNAME', '127.0.0.1:7071')}"
    links = approval_links(base, approval_keys()[0], req["run_id"], str(req["version"]), req["digest"],
                           int(req["expires_at"]))
    services().notifier.approval_requested(req["run_id"], req["model"], str(req["version"]), links)
    return links


def _parse_image(image: str) -> ImageRef:
    name, _, digest = image.partition("@")
    registry, _, repository = name.partition("/")
    return ImageRef(registry=registry, repository=repository, digest=digest)


def promote(req: dict[str, Any]) -> dict[str, Any]:
    """Copy the tested image by digest into the prod registry, tag it ``v<version>``, mark production."""
    prod = services().image_registry.promote(_parse_image(req["image"]), req["repository"], f"v{req['version']}")
    services().model_registry.mark_production(req["model"], str(req["version"]))
    return {"prod_ref": str(prod)}
