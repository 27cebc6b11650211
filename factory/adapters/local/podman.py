"""Local image builder: build one image per architecture with podman, run and verify each (arm64 under qemu
emulation), and push them as one image index only if every architecture passed.

Builds are reproducible: the Dockerfile has only COPY steps, the dependency folder is installed on the host
from the lock (``factory.packaging.deps``), and ``podman build --timestamp`` fixes every file time and the
creation time, so the same context gives the same image digests (and the same dependency layer for every
model with the same lock).

Verification containers carry labels naming the run, the build attempt and the stack's state dir
(``VERIFY_*_LABEL``); a new attempt for a run removes the containers of earlier attempts (a SIGKILLed
activity leaves its container behind), and ``remove_verification_containers`` clears a whole stack's when it
starts and stops.

Builds run side by side (several models at once), and each removes its local images once pushed: a build whose
layer-cache lookup fails on an image removed under it (``store_race``: "layer not known") is built again, at most
``STORE_RACE_ATTEMPTS`` builds in all; any other build failure is reported at once.

Settings (read through ``Settings.env``):

- ``FACTORY_BASE_IMAGE``: the ``BASE_IMAGE`` build argument (one image for every architecture); default: the
  offline-built local base per architecture (``ensure_base_image(arch=...)``).
- ``FACTORY_IMAGE_ARCHES``: comma-separated architectures of every image (default ``amd64,arm64``).
- ``FACTORY_VERIFY_TIMEOUT``: seconds to wait for a container's ``/ready`` (default 120; an emulated arm64
  container gets 4 times as long).

Registries are plain-HTTP Distribution registries on loopback (``FACTORY_DEV_REGISTRY``, see
``registry.py``); the image reference passed to ``build_verify_push`` says where to push.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from factory import ports
from factory.adapters.local import emulation
from factory.adapters.local.base_image import base_ref, emulation_available, ensure_base_image, host_arch
from factory.adapters.local.containers import ContainerEngine, ContainerError, engine
from factory.adapters.local.containers import state_dir as containers_state_dir
from factory.adapters.local.host import file_lock, free_port
from factory.adapters.local.reproducible import normalise_image
from factory.packaging import deps
from factory.packaging.context import CONTEXT_LABEL, FIXED_MTIME, LOCK_FILE, build_args, extra_labels, with_dependencies
from factory.settings import Settings
from model_server.check import run_check, wait_ready

log = logging.getLogger(__name__)


VERIFY_LABEL = "io.modelfactory.verifying"  # on verification containers: the reference being verified
VERIFY_RUN_LABEL = "io.modelfactory.verify.run"  # the run id the image is built for
VERIFY_ATTEMPT_LABEL = "io.modelfactory.verify.attempt"  # one id per build_verify_push call (build attempt)
VERIFY_STACK_LABEL = "io.modelfactory.verify.stack"  # the state dir's hash: which local stack started it
DEFAULT_ARCHES = ("amd64", "arm64")
EMULATED_TIMEOUT_FACTOR = 4.0
SCORE_TIMEOUT_S = 15.0  # for the sample request's answer, times the factor under emulation: digits' arm64 check
#                         under qemu on 2 cores at load 15 took over 10 s (socket "timed out", make run)


def stack_id(state_dir: Path | None = None) -> str:
    """A short id of a local stack (its state dir), for the labels of the containers it starts."""
    return hashlib.sha256(str((state_dir or containers_state_dir()).resolve()).encode()).hexdigest()[:12]


def remove_verification_containers(container_engine: ContainerEngine | None = None, *, stack: str | None = None,
                                   run: str | None = None, keep_attempt: str | None = None) -> list[str]:
    """Remove (force) the verification containers of a stack (default: this state dir's) and, if given, of one
    run, except those of ``keep_attempt``. Returns the removed container names."""
    eng = container_engine or engine()
    args = ["ps", "-a", "--format", "{{.Names}} {{.Labels}}",
            "--filter", f"label={VERIFY_STACK_LABEL}={stack or stack_id()}"]
    if run:
        args += ["--filter", f"label={VERIFY_RUN_LABEL}={run}"]
    proc = eng.run(args, check=False)
    names = [line.split(" ", 1)[0] for line in (proc.stdout or "").splitlines()
             if line.strip() and not (keep_attempt and f"{VERIFY_ATTEMPT_LABEL}:{keep_attempt}" in line)]
    if names:
        eng.run(["rm", "-f", "-t", "0", *names], check=False)
        log.info("removed %d verification container(s) of earlier attempts: %s", len(names), ", ".join(names))
    return names


class BuildFailed(ports.VerificationFailed):
    """The image did not build; nothing was pushed. ``logs`` holds the build output."""


def _build_lock(target: str) -> contextlib.AbstractContextManager[bool]:
    """An exclusive lock per target reference across processes (a file lock under the state dir)."""
    digest = hashlib.sha256(target.encode()).hexdigest()[:24]
    return file_lock(containers_state_dir() / "locks" / f"build-{digest}.lock")


def remote_digest(reference: str) -> str | None:
    """The digest of the manifest (or image index) ``reference`` names; None when the tag does not exist."""
    proc = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{reference}"],
                          capture_output=True, timeout=60)
    if proc.returncode == 0:
        return "sha256:" + hashlib.sha256(proc.stdout).hexdigest()
    err = proc.stderr.decode(errors="replace")
    if "manifest unknown" in err or "name unknown" in err:
        return None
    raise ContainerError(f"skopeo inspect --raw docker://{reference} failed: {err.strip()[-1000:]}")


def remote_image(reference: str) -> dict | None:
    """``skopeo inspect`` of ``docker://reference`` on a plain-HTTP registry; None when the tag does not exist."""
    proc = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{reference}"],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode == 0:
        return json.loads(proc.stdout)
    if "manifest unknown" in proc.stderr or "name unknown" in proc.stderr:
        return None
    raise ContainerError(f"skopeo inspect docker://{reference} failed: {proc.stderr.strip()[-1000:]}")


STORE_RACE_ATTEMPTS = 3
# podman's layer-cache lookup walks the store's images; an image another build removes meanwhile (several models
# build at once, and each removes its local images when it has pushed) makes the lookup fail with these
_STORE_RACES = ("layer not known", "image not known", "identifier is not an image")


def store_race(output: str) -> str:
    """The line of a failed ``podman build``'s output that says another process changed the image store under it
    (the build itself was fine: building again succeeds), or "" when the failure is the build's own."""
    for line in reversed(output.strip().splitlines()):
        if "checking if cached image exists" in line and any(race in line for race in _STORE_RACES):
            return line.strip()
    return ""


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

    base_image: str | None = None  # None: the offline local base per architecture, built on first use
    ready_timeout: float = 120.0
    container_engine: ContainerEngine | None = None
    arches: tuple[str, ...] = DEFAULT_ARCHES
    layer_cache: bool = True  # False: build every layer anew (``--no-cache``), as from an empty build cache
    attempt: str = field(default="", repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> PodmanImageBuilder:
        arches = tuple(a.strip() for a in settings.env("FACTORY_IMAGE_ARCHES", ",".join(DEFAULT_ARCHES)).split(",")
                       if a.strip())
        return cls(base_image=settings.env("FACTORY_BASE_IMAGE", "") or None,
                   ready_timeout=float(settings.env("FACTORY_VERIFY_TIMEOUT", "120")), arches=arches)

    @property
    def engine(self) -> ContainerEngine:
        return self.container_engine or engine()

    def build_verify_push(self, context: ports.BuildContext, ref: ports.ImageRef,
                          check: ports.ScoringCheck) -> ports.BuiltImage:
        """Build ``context`` for every architecture, run each image, POST the sample request, compare, and push
        the image index to ``ref`` only if every architecture passed.

        Idempotent: when ``ref``'s tag already holds an image labelled with this context hash, its digest is
        returned without building. Raises ``VerificationFailed`` (``BuildFailed`` for a failed build) with the
        logs; then no container, no local image and nothing in any registry is left behind. Verification
        containers of an earlier attempt for the same run (a killed activity) are removed first.
        """
        target = f"{ref.registry}/{ref.repository}:{ref.tag}"
        with _build_lock(target):  # a retried activity waits for the first attempt, then finds its image
            builder = replace(self, attempt=uuid.uuid4().hex[:12])
            remove_verification_containers(self.engine, run=_run_of(context))
            return builder._build_verify_push(context, ref, check, target)

    def _build_verify_push(self, context: ports.BuildContext, ref: ports.ImageRef, check: ports.ScoringCheck,
                           target: str) -> ports.BuiltImage:
        existing = remote_image(target)
        if existing and existing.get("Labels", {}).get(CONTEXT_LABEL) == context.sha256:
            digest = remote_digest(target) or existing["Digest"]
            log.info("%s already holds context %s (%s); not rebuilding", target, context.sha256[:12], digest)
            return ports.BuiltImage(ref=replace(ref, digest=digest), digest=digest,
                                    log_tail=f"{target} already built from context {context.sha256}",
                                    arches=list(self.arches), base_images=self._bases())
        for arch in self.arches:
            if not emulation_available(arch):
                raise BuildFailed(f"{target}: cannot verify the {arch} image on this {host_arch()} machine: "
                                  "qemu-user-static + binfmt-support are missing (scripts/install-system-deps.sh)")
        locals_ = {arch: f"localhost/model-factory-build/{ref.repository}:{context.sha256[:20]}-{arch}"
                   for arch in self.arches}
        try:
            build_log = "".join(self._build(context, locals_[arch], arch) for arch in self.arches)
            with ThreadPoolExecutor(max_workers=len(self.arches)) as pool:
                run_id = _run_of(context)
                verdicts = pool.map(lambda arch: self._verify(locals_[arch], check, target, arch, run_id), self.arches)
                results = dict(zip(self.arches, verdicts, strict=True))
            failed = [arch for arch, (passed, _, _) in results.items() if not passed]
            report = "; ".join(f"{arch}: {rep}" for arch, (_, rep, _) in results.items())
            logs = "\n".join(f"--- {arch} ---\n{out[-4000:]}" for arch, (_, _, out) in results.items())
            if failed:
                raise ports.VerificationFailed(f"{target}: verification failed on {', '.join(failed)}: {report}", logs)
            digest = self._push(locals_, target, context.sha256)
        finally:
            # not -f: a container of another attempt on the same context (another target) keeps its image
            for local in locals_.values():
                self.engine.run(["rmi", local], check=False)
        log.info("%s verified on %s and pushed as %s", target, ", ".join(self.arches), digest)
        return ports.BuiltImage(ref=replace(ref, digest=digest), digest=digest,
                                log_tail=(build_log[-1000:] + "\n" + report + "\n" + logs[-1000:]).strip(),
                                arches=list(self.arches), base_images=self._bases())

    def _bases(self) -> dict[str, str]:
        """Per architecture, the base image as ``name@<image id>`` (what the provenance records)."""
        out: dict[str, str] = {}
        for arch in self.arches:
            base = self.base_image or base_ref(arch)
            proc = self.engine.run(["image", "inspect", "--format", "{{.Id}}", base], check=False)
            image_id = (proc.stdout or "").strip().removeprefix("sha256:") if proc.returncode == 0 else ""
            out[arch] = f"{base}@sha256:{image_id}" if image_id else base
        return out

    def _build(self, context: ports.BuildContext, local: str, arch: str) -> str:
        base = self.base_image or ensure_base_image(self.engine, arch=arch)
        lock = Path(context.path) / LOCK_FILE
        if lock.is_file():
            with_dependencies(context, arch, deps.install(lock, arch, containers_state_dir() / "deps"))
        args = ["build", "--network=host", "--platform", f"linux/{arch}", "--build-arg", f"TARGETARCH={arch}"]
        if not self.layer_cache:
            args.append("--no-cache")
        if self.engine.is_podman:
            args += ["--pull=never" if base.startswith("localhost/") else "--pull=missing",
                     "--format", "docker",  # docker format keeps HEALTHCHECK (the OCI image format has none)
                     "--timestamp", str(FIXED_MTIME), "--identity-label=false", "--omit-history"]
        args += ["--build-arg", f"BASE_IMAGE={base}"]
        for name, value in build_args(context).items():
            args += ["--build-arg", f"{name}={value}"]
        for name, value in extra_labels(context).items():
            args += ["--label", f"{name}={value}"]
        args += ["-t", local, "-f", str(Path(context.path) / "Dockerfile"), context.path]
        attempt = 1
        proc = self.engine.run(args, check=False, timeout=1800)
        output = (proc.stdout or "") + (proc.stderr or "")
        while proc.returncode != 0 and store_race(output) and attempt < STORE_RACE_ATTEMPTS:
            attempt += 1
            log.warning("building %s for %s: the image store changed under the build (%s); building again "
                        "(attempt %d of %d)", context.path, arch, store_race(output), attempt, STORE_RACE_ATTEMPTS)
            proc = self.engine.run(args, check=False, timeout=1800)
            output = (proc.stdout or "") + (proc.stderr or "")
        if proc.returncode != 0:
            self.engine.run(["rmi", local], check=False)
            raise BuildFailed(f"building {context.path} for {arch} failed (exit {proc.returncode}): "
                              f"{output.strip().splitlines()[-1] if output.strip() else ''}", output[-20000:])
        if self.engine.is_podman:
            normalise_image(self.engine, local)
        return output

    def _verify(self, local: str, check: ports.ScoringCheck, target: str, arch: str = "",
                run_id: str = "") -> tuple[bool, str, str]:
        """Run the image, wait for /ready, score the sample request; returns (passed, report, container logs)."""
        name = f"mf-verify-{uuid.uuid4().hex[:12]}"
        port = free_port()
        run = ["run", "-d", "--name", name, "--label", f"{VERIFY_LABEL}={target}",
               "--label", f"{VERIFY_RUN_LABEL}={run_id or 'none'}",
               "--label", f"{VERIFY_ATTEMPT_LABEL}={self.attempt or 'none'}",
               "--label", f"{VERIFY_STACK_LABEL}={stack_id()}", "--label", f"io.modelfactory.verify.pid={os.getpid()}",
               "-p", f"127.0.0.1:{port}:{check.port}"]
        if arch:
            run += ["--platform", f"linux/{arch}", *emulation.run_args(arch, containers_state_dir() / "emulation")]
        if self.engine.is_podman:
            run.append("--no-healthcheck")  # podman's health timers need systemd; we poll /ready ourselves
        self.engine.run([*run, local])
        factor = EMULATED_TIMEOUT_FACTOR if arch and arch != host_arch() else 1.0
        try:
            base_url = f"http://127.0.0.1:{port}"
            try:
                wait_ready(base_url, self.ready_timeout * factor, alive=lambda: self._running(name))
                passed, report = run_check(base_url, check.request, check.expected, check.tolerance, check.path,
                                           timeout=SCORE_TIMEOUT_S * factor, rel_tolerance=check.rel_tolerance)
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

    def _push(self, locals_: dict[str, str], target: str, context_sha: str) -> str:
        """Push the per-architecture images as one image index (a Docker manifest list: the images keep the
        Docker format for HEALTHCHECK) to ``target``; returns the index digest."""
        if not self.engine.is_podman:
            if len(locals_) != 1:
                raise ContainerError("multi-architecture images need podman (make setup installs it); "
                                     "set FACTORY_IMAGE_ARCHES to one architecture for Docker")
            (local,) = locals_.values()
            self.engine.run(["tag", local, target])
            self.engine.run(["push", target], timeout=600)
            digest = remote_digest(target)
            if not digest:
                raise ContainerError(f"{target} was pushed but the registry does not list it")
            return digest
        index = f"localhost/model-factory-build/index-{context_sha[:20]}:{self.attempt or uuid.uuid4().hex[:12]}"
        self.engine.run(["manifest", "rm", index], check=False)
        self.engine.run(["manifest", "create", index])
        try:
            for local in locals_.values():
                self.engine.run(["manifest", "add", index, f"containers-storage:{local}"])
            with tempfile.TemporaryDirectory(prefix="mf-push-") as tmp:
                digest_file = Path(tmp) / "digest"
                self.engine.run(["manifest", "push", "--all", "--format", "v2s2", "--tls-verify=false",
                                 "--digestfile", str(digest_file), index, f"docker://{target}"], timeout=900)
                return digest_file.read_text().strip()
        finally:
            self.engine.run(["manifest", "rm", index], check=False)


def _run_of(context: ports.BuildContext) -> str:
    return context.labels.get("io.modelfactory.run-id", "") or "none"


# pyright checks each adapter against its port here (a missing or mistyped method fails `make test`)
_PodmanImageBuilder: type[ports.ImageBuilder] = PodmanImageBuilder
