"""What each activity of a run does: one call into a port (via ``factory.backends.services()``) plus the
pure domain around it. Every step is idempotent: activities are delivered at least once.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import urllib.parse
from pathlib import Path

from factory import gate
from factory.approval import approval_links, check_key
from factory.backends import services
from factory.catalog import ModelSpec, load_catalog
from factory.ports import ImageRef, TrainingJob, TrainingRequest, VerificationFailed
from factory.runs import RunPlan, RunRequest
from orchestrations.contract import (
    ApprovalRequest,
    BuildRequest,
    DataCheck,
    GateRequest,
    GateVerdict,
    ImageBuild,
    Promotion,
    PromotionRequest,
)

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


def plan_run(run: RunRequest) -> RunPlan:
    """Resolve the run's timeouts and names from ``model.yaml`` and settings."""
    spec = catalog()[run.model]
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
    )


def _display_name(uri: str) -> str:
    """``incoming/nyc_taxi/x.csv`` for a blob URL (path-style Azurite URLs included), the path otherwise."""
    if not uri.startswith(("http://", "https://")):
        return uri
    path = urllib.parse.unquote(urllib.parse.urlparse(uri).path).lstrip("/")
    parts = path.split("/")
    if parts and parts[0] == "devstoreaccount1":
        parts = parts[1:]
    return "/".join(parts)


def validate_data(run: RunRequest) -> DataCheck:
    """Fetch the uploaded CSV and check it against the model's schema."""
    from factory.validation import validate_csv

    spec = catalog()[run.model]
    name = _display_name(run.data_uri)
    local = _run_dir(run.run_id) / "data.csv"
    etag = run.data_etag
    if run.data_uri.startswith(("http://", "https://")):
        props = services().blob_store.properties(run.data_uri)
        etag = etag or str(props["etag"])
        if props["size"] > spec.data.max_bytes:
            return DataCheck(ok=False, etag=etag, size=props["size"], errors=[
                f"{run.model} upload {name}: {props['size']} bytes is over the limit of {spec.data.max_mb:g} MB"])
        services().blob_store.download(run.data_uri, local)
    else:
        source = Path(run.data_uri)
        if not source.is_file():
            return DataCheck(ok=False, etag=etag, size=0, errors=[f"{run.model} upload {name}: no such file"])
        local = source
    errors = validate_csv(local, spec, name)
    return DataCheck(ok=not errors, etag=etag, size=local.stat().st_size, errors=[str(e) for e in errors])


def submit_training(run: RunRequest) -> TrainingJob:
    """Submit the model's pipeline (idempotent per run id)."""
    return services().trainer.submit(TrainingRequest(model=run.model, run_id=run.run_id, data_uri=run.data_uri,
                                                     data_etag=run.data_etag, source_commit=run.source_commit))


def evaluate_gate(req: GateRequest) -> GateVerdict:
    """The registered version against the model's gate and its production version."""
    spec = catalog()[req.model]
    registry = services().model_registry
    challenger = registry.get(req.model, req.version)
    production = registry.production(req.model)
    champion = None
    if production is not None and production.version != challenger.version:
        champion = {"version": production.version, "metrics": production.metrics}
    result = gate.evaluate(challenger.metrics, spec.gate.thresholds, spec.gate.metric, spec.gate.higher_is_better,
                           spec.gate.max_regression, champion)
    return GateVerdict(passed=result.passed, reasons=list(result.reasons), champion=result.champion,
                       metrics=challenger.metrics)


def build_image(req: BuildRequest) -> ImageBuild:
    """Assemble the context, build, verify and push to the dev registry under the run id's tag.

    Not ``ok`` (with the reason and the container's logs) when verification failed: nothing is stored.
    """
    from factory.packaging.context import assemble, model_labels, scoring_check

    spec = catalog()[req.model]
    work = _run_dir(req.run_id) / "image"
    shutil.rmtree(work, ignore_errors=True)  # a retried activity starts from a clean folder
    artifacts = services().model_registry.download(req.model, req.version, work / "artifacts")
    labels = model_labels(req.model, req.version, req.run_id, req.source_commit)
    context = assemble(spec.folder, artifacts, work / "context", labels)
    ref = ImageRef(registry=dev_registry(), repository=req.repository, tag=req.run_id)
    try:
        built = services().image_builder.build_verify_push(context, ref, scoring_check(spec.folder))
    except VerificationFailed as failed:
        return ImageBuild(ok=False, reason=str(failed), logs=failed.logs[-4000:])
    image = ImageRef(ref.registry, ref.repository, digest=built.digest)
    return ImageBuild(ok=True, image=str(image), digest=built.digest)


def request_approval(req: ApprovalRequest) -> dict[str, str]:
    """Sign the approve/reject links for this run, version and digest; notify the approver once."""
    env = _settings().env
    base = env("APPROVAL_BASE_URL", "") or f"http://{env('WEBSITE_HOSTNAME', '127.0.0.1:7071')}"
    links = approval_links(base, approval_keys()[0], req.run_id, req.version, req.digest, req.expires_at)
    services().notifier.approval_requested(req.run_id, req.model, req.version, links)
    return links


def _parse_image(image: str) -> ImageRef:
    name, _, digest = image.partition("@")
    registry, _, repository = name.partition("/")
    return ImageRef(registry=registry, repository=repository, digest=digest)


def promote(req: PromotionRequest) -> Promotion:
    """Copy the tested image by digest into the prod registry, tag it ``v<version>``, mark production."""
    prod = services().image_registry.promote(_parse_image(req.image), req.repository, f"v{req.version}")
    services().model_registry.mark_production(req.model, req.version)
    return Promotion(prod_ref=str(prod))
