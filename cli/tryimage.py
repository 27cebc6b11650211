"""``model-factory try MODEL --image``: the version's real image, as a factory run built, verified and pushed it
to the dev registry (``<dev registry>/<image.repository>:<run id>``, the run id the version is tagged with),
pulled and run with podman on a free loopback port, and asked the request.

The dev registry is ``FACTORY_DEV_REGISTRY`` or the local stack's (its saved ports, ``<state>/stack.json``).
The image's labels must name this model and version. The container runs the image's own entrypoint (the
server starts as it does on a device), is removed afterwards, and so is the image when this command pulled it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from factory.adapters.local.containers import ContainerEngine, ContainerError
from factory.settings import Settings

TRY_LABEL = "io.modelfactory.try"  # on the containers `try --image` starts (a crash leaves one behind)
LOG_LINES = 15


class ImageTryError(RuntimeError):
    """The version's image cannot be tried; the message says why and what to do. ``exit_code``: 2 when there is
    nothing to try (no image, no registry), 1 when the image does not serve."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class VersionImage:
    """Where a model version's image is: ``reference`` (by tag) pinned to ``digest``."""

    reference: str
    digest: str

    @property
    def pinned(self) -> str:
        return f"{self.reference.rsplit(':', 1)[0]}@{self.digest}"


def dev_registry(settings: Settings) -> str:
    """``FACTORY_DEV_REGISTRY``, else the local stack's dev registry (its saved ports)."""
    from localstack.stack import LocalStack

    return settings.env("FACTORY_DEV_REGISTRY", "") or f"127.0.0.1:{LocalStack(settings.state_dir).ports.dev_registry}"


def find_image(registry: str, repository: str, model: str, version: str, run_id: str) -> VersionImage:
    """The image a factory run pushed for ``version`` (tagged with its run id); ImageTryError when the registry
    does not answer or holds no such image."""
    from factory.adapters.local.registry import RegistryError, manifest_digest

    reference = f"{registry}/{repository}:{run_id}"
    try:
        digest = manifest_digest(registry, repository, run_id) if run_id else None
    except (OSError, RegistryError) as exc:
        raise ImageTryError(f"the dev registry {registry} does not answer ({exc}); `model-factory up` starts it "
                            "(or set FACTORY_DEV_REGISTRY)", 2) from None
    if not digest:
        where = reference if run_id else f"{registry}/{repository} (the version has no run id)"
        raise ImageTryError(f"{model} version {version} has no image: {where} is not there. A factory run builds "
                            f"and pushes it (`model-factory run {model}`); `model-factory try {model}` without "
                            "--image serves the version in-process", 2)
    return VersionImage(reference, digest)


def serve_image_and_ask(eng: ContainerEngine, image: VersionImage, model: str, version: str, request: Any,
                        port_in_image: int, ready_timeout: float) -> tuple[int, str]:
    """Pull ``image`` (unless podman has it), check its labels, run it on a free loopback port, wait for
    ``/ready`` and POST ``request`` to ``/score``; (HTTP status, body). ImageTryError with the container's last
    log lines when it does not get ready."""
    from factory.adapters.local.host import free_port
    from model_server.check import http, wait_ready

    pulled = not eng.image_exists(image.pinned)
    if pulled:
        eng.run(["pull", "-q", "--tls-verify=false", image.pinned], timeout=600)
    name = f"mf-try-{uuid.uuid4().hex[:12]}"
    try:
        labels = _labels(eng, image.pinned)
        if (labels.get("io.modelfactory.model"), labels.get("io.modelfactory.model-version")) != (model, version):
            raise ImageTryError(f"{image.reference} is labelled {labels.get('io.modelfactory.model')!r} version "
                                f"{labels.get('io.modelfactory.model-version')!r}, not {model!r} version {version!r}")
        port = free_port()
        run = ["run", "-d", "--name", name, "--label", f"{TRY_LABEL}={model}:{version}",
               "-p", f"127.0.0.1:{port}:{port_in_image}"]
        if eng.is_podman:
            run.append("--no-healthcheck")  # podman's health timers need systemd; /ready is polled here
        eng.run([*run, image.pinned])
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, ready_timeout, alive=lambda: _running(eng, name))
        except TimeoutError as exc:
            raise ImageTryError(f"{exc}\nthe container's last log lines:\n{_log_tail(eng, name)}") from None
        status, body = http("POST", f"{base}/score", json.dumps(request).encode(), timeout=30.0)
        return status, body.decode(errors="replace")
    finally:
        eng.run(["rm", "-f", "-t", "0", name], check=False)
        if pulled:
            eng.run(["rmi", image.pinned], check=False)


def _labels(eng: ContainerEngine, image: str) -> dict[str, str]:
    found = json.loads(eng.run(["image", "inspect", "--format", "{{json .Labels}}", image]).stdout or "null")
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _running(eng: ContainerEngine, name: str) -> bool:
    return eng.run(["inspect", "-f", "{{.State.Running}}", name], check=False).stdout.strip() == "true"


def _log_tail(eng: ContainerEngine, name: str) -> str:
    proc = eng.run(["logs", name], check=False)
    lines = ((proc.stdout or "") + (proc.stderr or "")).strip().splitlines()[-LOG_LINES:]
    return "\n".join(f"  {line}" for line in lines) or "  (none)"


__all__ = ["ContainerError", "ImageTryError", "VersionImage", "dev_registry", "find_image", "serve_image_and_ask"]
