"""Build and push the fleet reporter module (``edge/fleet_reporter``) as an amd64 + arm64 image index, the way
the smoke module is built (``smoke_image.py``): on the offline base image of each architecture, only COPY steps
(no emulation), tagged with the module's context hash, built and pushed once (file-locked), then found by tag.
Locally the Dockerfile's target ``local`` (standard library only); on Azure the ACR task
``edge/fleet_reporter/acr-task.yaml`` builds target ``azure`` (with the IoT Hub device SDK).
``python -m factory.adapters.local.reporter_image --index REGISTRY`` prints ``registry/repo@sha256:<index>``.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
from pathlib import Path

from factory.adapters.local.base_image import ensure_base_image
from factory.adapters.local.containers import ContainerEngine, engine, push_index, state_dir
from factory.adapters.local.host import file_lock

REPORTER_DIR = Path(__file__).resolve().parents[3] / "edge" / "fleet_reporter"
REPOSITORY = "model-factory/fleet-reporter"
ARCHES = ("amd64", "arm64")


def reporter_hash() -> str:
    """SHA-256 (12 hex) of the reporter's build context: its image tag."""
    digest = hashlib.sha256()
    for name in ("Dockerfile", "reporter.py"):
        digest.update(name.encode() + b"\0" + (REPORTER_DIR / name).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def build_reporter_image(tag: str, arch: str, container_engine: ContainerEngine | None = None) -> str:
    """Build ``edge/fleet_reporter`` (target ``local``: standard library only, no IoT SDK) for ``arch`` as ``tag``
    on that architecture's local base image."""
    from factory.packaging.context import FIXED_MTIME

    eng = container_engine or engine()
    base = ensure_base_image(eng, arch=arch)
    with tempfile.TemporaryDirectory(prefix="mf-reporter-") as tmp:
        context = Path(tmp) / "ctx"
        context.mkdir()
        for name in ("Dockerfile", "reporter.py"):
            shutil.copyfile(REPORTER_DIR / name, context / name)
        (context / "deps" / arch).mkdir(parents=True)  # what target `azure` copies (not built here)
        args = ["build", "--no-cache", "--network=none", "--platform", f"linux/{arch}", "--target", "local",
                "--build-arg", f"BASE_IMAGE={base}"]  # COPY steps only: nothing worth a cache lookup
        if eng.is_podman:
            args += ["--pull=never", "--timestamp", str(FIXED_MTIME), "--identity-label=false", "--omit-history"]
        eng.run([*args, "-t", tag, str(context)])
    return tag


def reporter_index(registry: str, container_engine: ContainerEngine | None = None) -> str:
    """The reporter as an image index of both architectures in ``registry``: ``registry/repo@sha256:<index>``."""
    from factory.adapters.local.podman import remote_digest

    eng = container_engine or engine()
    target = f"{registry}/{REPOSITORY}:{reporter_hash()}"
    digest = remote_digest(target)
    if digest:
        return f"{registry}/{REPOSITORY}@{digest}"
    with file_lock(state_dir() / "reporter-image.lock"):
        digest = remote_digest(target)
        if digest:
            return f"{registry}/{REPOSITORY}@{digest}"
        locals_ = [build_reporter_image(f"localhost/model-factory-fleet-reporter:{reporter_hash()}-{arch}", arch,
                                        eng) for arch in ARCHES]
        digest = push_index(eng, locals_, f"localhost/model-factory-fleet-reporter-index:{reporter_hash()}", target)
    return f"{registry}/{REPOSITORY}@{digest}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--index", metavar="REGISTRY", required=True, help="e.g. 127.0.0.1:5200")
    print(reporter_index(parser.parse_args(argv).index))


if __name__ == "__main__":
    main()
