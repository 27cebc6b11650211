"""The local container engine: podman with runc (what works without a Docker daemon here), or Docker
where a daemon answers. Every local adapter that builds or runs containers goes through ``engine()``.

Podman on these machines needs ``runc`` and a containers.conf with ``default_ulimits = []`` (crun fails
on ``setrlimit`` in the sandbox); ``engine()`` writes that file once under the state dir and points
``CONTAINERS_CONF`` at it for every podman call.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CONTAINERS_CONF = """\
[containers]
default_ulimits = []

[engine]
runtime = "runc"
"""


class ContainerError(RuntimeError):
    """A container engine command failed; the message holds the command and its stderr."""


@dataclass(frozen=True)
class ContainerEngine:
    """A container CLI (podman or docker) with the environment it needs."""

    binary: str
    env: dict[str, str]

    @property
    def is_podman(self) -> bool:
        return Path(self.binary).name == "podman"

    def run(self, args: Sequence[str], *, check: bool = True, timeout: float | None = 900,
            input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``<engine> args``; raises ``ContainerError`` with stderr when it fails and ``check``."""
        cmd = [self.binary, *args]
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=input is None, timeout=timeout,
                              input=input)
        if check and proc.returncode != 0:
            err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode(errors="replace")
            raise ContainerError(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}): {err.strip()[-2000:]}")
        return proc

    def image_exists(self, ref: str) -> bool:
        return self.run(["image", "inspect", ref], check=False).returncode == 0


def state_dir() -> Path:
    """The local state folder (``FACTORY_STATE_DIR``, default ``.factory``)."""
    return Path(os.environ.get("FACTORY_STATE_DIR", ".factory")).resolve()


def _docker_daemon_answers() -> bool:
    docker = shutil.which("docker")
    if not docker:
        return False
    try:
        return subprocess.run([docker, "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.cache
def engine() -> ContainerEngine:
    """The container engine to use: podman (preferred, daemonless) or a Docker daemon that answers."""
    podman = shutil.which("podman")
    if podman:
        conf = state_dir() / "containers.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
            conf.write_text(CONTAINERS_CONF)
        env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        return ContainerEngine(podman, env)
    if _docker_daemon_answers():
        return ContainerEngine(shutil.which("docker") or "docker", dict(os.environ))
    raise ContainerError("no container engine: install podman (make setup does) or start a Docker daemon")


def push_index(eng: ContainerEngine, locals_: Sequence[str], index: str, target: str) -> str:
    """Push the local images ``locals_`` (one per architecture) as one image index to ``target`` (plain http, v2s2
    manifests, the way the registries here take them); returns the index digest. ``index`` is the local manifest
    list's name, removed again afterwards."""
    eng.run(["manifest", "rm", index], check=False)
    eng.run(["manifest", "create", index])
    try:
        for local in locals_:
            eng.run(["manifest", "add", index, f"containers-storage:{local}"])
        with tempfile.TemporaryDirectory(prefix="mf-push-") as tmp:
            digest_file = Path(tmp) / "digest"
            eng.run(["manifest", "push", "--all", "--format", "v2s2", "--tls-verify=false",
                     "--digestfile", str(digest_file), index, f"docker://{target}"], timeout=900)
            return digest_file.read_text().strip()
    finally:
        eng.run(["manifest", "rm", index], check=False)
