"""Local image builder: build with podman (or Docker), run the container, verify it, push only if it passed.

Settings (read through ``Settings.env``):

- ``FACTORY_BASE_IMAGE``: the ``BASE_IMAGE`` build argument; default: the offline-built local base
  (``ensure_base_image()``).
- ``FACTORY_VERIFY_TIMEOUT``: seconds to wait for the container's ``/ready`` (default 120).

Registries are plain-HTTP Distribution registries on loopback (``FACTORY_DEV_REGISTRY``, see
``registry.py``); the image reference passed to ``build_verify_push`` says where to push.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from factory import ports
from factory.adapters.local.base_image import ensure_base_image
from factory.adapters.local.containers import ContainerEngine, ContainerError, _state_dir, engine
from factory.adapters.local.host import file_lock, free_port
from factory.packaging.context import CONTEXT_LABEL, build_args, extra_labels
from factory.serving.check import run_check, wait_ready
from factory.settings import Settings

log = logging.getLogger(__name__)


VERIFY_LABEL = "io.modelfactory.verifying"  # on verification containers: the reference being verified


class BuildFailed(ports.VerificationFailed):
    """The image did not build; nothing was pushed. ``logs`` holds the build output."""


def _build_lock(target: str) -> contextlib.AbstractContextManager[bool]:
    """An exclusive lock per target reference across processes (a file lock under the state dir)."""
    return file_lock(_state_dir() / "locks" / f"build-{hashlib.sha256(target.encode()).hexdigest()[:24]}.lock")


def remote_image(reference: str) -> dict | None:
    """``skopeo inspect`` of ``docker://reference`` on a plain-HTTP registry; None when the tag does not exist."""
    proc = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{reference}"],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode == 0:
        return json.loads(proc.stdout)
    if "manifest unknown" in proc.stderr or "name unknown" in proc.stderr:
        return None
    raise ContainerError(f"skopeo inspect docker://{reference} failed: {proc.stderr.strip()[-1000:]}")


def healthcheck_command(test: list[str] | None) -> list[str] | None:
    """The argv of an image's ``HEALTHCHECK`` (``Config.Healthcheck.Test``), or None when it declares none."""
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        return list(test[1:])
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", test[1]]
    raise ValueError(f"unknown HEALTHCHECK test form {test[0]!r}")


@dataclass
class PodmanImageBuilder:
    """``ImageBuilder`` on the local container engine; see the module docstring for its settings."""

    base_image: str | None = None  # None: the offline local base, built on first use
    ready_timeout: float = 120.0
    container_engine: ContainerEngine | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PodmanImageBuilder:
        return cls(base_image=settings.env("FACTORY_BASE_IMAGE", "") or None,
                   ready_timeout=float(settings.env("FACTORY_VERIFY_TIMEOUT", "120")))

    @property
    def engine(self) -> ContainerEngine:
        return self.container_engine or engine()

    def build_verify_push(self, context: ports.BuildContext, ref: ports.ImageRef,
                          check: ports.ScoringCheck) -> ports.BuiltImage:
        """Build ``context``, run it, POST the sample request, compare, push to ``ref`` only if it passed.

        Idempotent: when ``ref``'s tag already holds an image labelled with this context hash, its digest is
        returned without building. Raises ``VerificationFailed`` (``BuildFailed`` for a failed build) with the
        logs; then no container, no local image and nothing in any registry is left behind.
        """
        target = f"{ref.registry}/{ref.repository}:{ref.tag}"
        with _build_lock(target):  # a retried activity waits for the first attempt, then finds its image
            return self._build_verify_push(context, ref, check, target)

    def _build_verify_push(self, context: ports.BuildContext, ref: ports.ImageRef, check: ports.ScoringCheck,
                           target: str) -> ports.BuiltImage:
        existing = remote_image(target)
        if existing and existing.get("Labels", {}).get(CONTEXT_LABEL) == context.sha256:
            digest = existing["Digest"]
            log.info("%s already holds context %s (%s); not rebuilding", target, context.sha256[:12], digest)
            return ports.BuiltImage(ref=replace(ref, digest=digest), digest=digest,
                                    log_tail=f"{target} already built from context {context.sha256}")
        local = f"localhost/model-factory-build/{ref.repository}:{context.sha256[:20]}"
        build_log = self._build(context, local)
        try:
            passed, report, logs = self._verify(local, check, target)
            if not passed:
                raise ports.VerificationFailed(f"{target}: verification failed: {report}", logs)
            digest = self._push(local, target)
        except BaseException:
            # not -f: a container of another attempt on the same context (another target) keeps its image
            self.engine.run(["rmi", local], check=False)
            raise
        log.info("%s verified and pushed as %s", target, digest)
        return ports.BuiltImage(ref=replace(ref, digest=digest), digest=digest,
                                log_tail=(build_log[-1000:] + "\n" + report + "\n" + logs[-1000:]).strip())

    def _build(self, context: ports.BuildContext, local: str) -> str:
        base = self.base_image or ensure_base_image(self.engine)
        args = ["build", "--network=host"]
        if self.engine.is_podman:
            args += ["--pull=never" if base.startswith("localhost/") else "--pull=missing",
                     "--format", "docker"]  # docker format keeps HEALTHCHECK (the OCI image format has none)
        args += ["--build-arg", f"BASE_IMAGE={base}"]
        for name, value in build_args(context).items():
            args += ["--build-arg", f"{name}={value}"]
        for name, value in extra_labels(context).items():
            args += ["--label", f"{name}={value}"]
        args += ["-t", local, "-f", str(Path(context.path) / "Dockerfile"), context.path]
        proc = self.engine.run(args, check=False, timeout=1800)
        output = (proc.stdout or "") + (proc.stderr or "")
        if proc.returncode != 0:
            self.engine.run(["rmi", local], check=False)
            raise BuildFailed(f"building {context.path} failed (exit {proc.returncode}): "
                              f"{output.strip().splitlines()[-1] if output.strip() else ''}", output[-20000:])
        return output

    def _verify(self, local: str, check: ports.ScoringCheck, target: str) -> tuple[bool, str, str]:
        """Run the image, wait for /ready, score the sample request; returns (passed, report, container logs)."""
        name = f"mf-verify-{uuid.uuid4().hex[:12]}"
        port = free_port()
        run = ["run", "-d", "--name", name, "--label", f"{VERIFY_LABEL}={target}",
               "-p", f"127.0.0.1:{port}:{check.port}"]
        if self.engine.is_podman:
            run.append("--no-healthcheck")  # podman's health timers need systemd; we poll /ready ourselves
        self.engine.run([*run, local])
        try:
            base_url = f"http://127.0.0.1:{port}"
            try:
                wait_ready(base_url, self.ready_timeout, alive=lambda: self._running(name))
                passed, report = run_check(base_url, check.request, check.expected, check.tolerance, check.path)
            except (TimeoutError, OSError) as exc:
                passed, report = False, str(exc)
            if passed:
                passed, health = self._run_healthcheck(local, name)
                report = f"{report}; {health}"
            logs_proc = self.engine.run(["logs", name], check=False)
            logs = (logs_proc.stdout or "") + (logs_proc.stderr or "")
        finally:
            self.engine.run(["rm", "-f", "-t", "0", name], check=False)
        return passed, report, logs

    def _run_healthcheck(self, image: str, container: str) -> tuple[bool, str]:
        """Run the image's own ``HEALTHCHECK`` command once in the running container (the engine's health
        timers are off: podman's need systemd), so a broken health check fails verification too."""
        proc = self.engine.run(["image", "inspect", "--format", "{{json .Config.Healthcheck}}", image])
        config = json.loads(proc.stdout or "null") or {}
        argv = healthcheck_command(config.get("Test"))
        if argv is None:
            return True, "no HEALTHCHECK declared"
        timeout = max(config.get("Timeout") or 0, 0) / 1e9 or 30.0
        try:
            result = self.engine.run(["exec", container, *argv], check=False, timeout=timeout + 10)
        except subprocess.TimeoutExpired:
            return False, f"HEALTHCHECK did not finish within {timeout:.0f} s"
        if result.returncode != 0:
            output = ((result.stdout or "") + (result.stderr or "")).strip().splitlines()
            return False, f"HEALTHCHECK failed (exit {result.returncode}): {output[-1] if output else ''}"
        return True, "HEALTHCHECK passed"

    def _running(self, name: str) -> bool:
        proc = self.engine.run(["inspect", "-f", "{{.State.Running}}", name], check=False)
        return proc.stdout.strip() == "true"

    def _push(self, local: str, target: str) -> str:
        if self.engine.is_podman:
            with tempfile.TemporaryDirectory(prefix="mf-push-") as tmp:
                digest_file = Path(tmp) / "digest"
                self.engine.run(["push", "--tls-verify=false", "--digestfile", str(digest_file), local,
                                 f"docker://{target}"], timeout=600)
                return digest_file.read_text().strip()
        self.engine.run(["tag", local, target])
        self.engine.run(["push", target], timeout=600)
        pushed = remote_image(target)
        if not pushed:
            raise ContainerError(f"{target} was pushed but the registry does not list it")
        return str(pushed["Digest"])
