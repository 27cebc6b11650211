"""Build (and push) the smoke-test module image locally: ``python -m factory.adapters.local.smoke_image
--index REGISTRY`` (the amd64 + arm64 image index, as the simulated devices run it) or ``--push REGISTRY``
(one architecture).

On Azure the same Dockerfile is built for both platforms by the ACR task ``edge/smoke_module/acr-task.yaml``
(``factory.adapters.azure.acr_tasks.render_smoke_task``) with the public ``BASE_IMAGE`` and the IoT Hub device
SDK; locally on the offline base image of each architecture, without the SDK (the simulator's twin endpoint
needs only the standard library).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from factory.adapters.local.base_image import ensure_base_image, host_arch
from factory.adapters.local.containers import ContainerEngine, engine, push_index, state_dir
from factory.adapters.local.host import file_lock

SMOKE_MODULE_DIR = Path(__file__).resolve().parents[3] / "edge" / "smoke_module"
LOCAL_TAG = "localhost/model-factory-smoketest:dev"
REPOSITORY = "model-factory/smoketest"
ARCHES = ("amd64", "arm64")


def _context(dest: Path, arch: str, with_device_sdk: bool) -> Path:
    """The build context: the module's Dockerfile and script, and ``deps/<arch>`` (the IoT Hub device SDK
    for that platform, installed on this host as the ACR task does, or empty)."""
    dest.mkdir(parents=True)
    for name in ("Dockerfile", "smoke.py", "compare.py"):
        shutil.copyfile(SMOKE_MODULE_DIR / name, dest / name)
    (dest / "deps" / arch).mkdir(parents=True)
    if with_device_sdk:
        from factory.packaging.deps import pip_platform_args

        pip = [sys.executable, "-m", "pip", "-q"]
        requirements = str(SMOKE_MODULE_DIR / "requirements-device.txt")
        subprocess.run([*pip, "wheel", "--no-cache-dir", "-w", str(dest / "wheels"), "-r", requirements],
                       check=True, timeout=900)
        subprocess.run([*pip, "install", "--no-cache-dir", "--no-compile", *pip_platform_args(arch),
                        "--find-links", str(dest / "wheels"), "--target", str(dest / "deps" / arch),
                        "-r", requirements], check=True, timeout=900)
    return dest


def build_smoke_image(tag: str = LOCAL_TAG, container_engine: ContainerEngine | None = None,
                      with_device_sdk: bool = False, arch: str = "") -> str:
    """Build ``edge/smoke_module`` for ``arch`` (default: this machine's) as ``tag`` on the local base image of
    that architecture; returns ``tag``. The Dockerfile has only COPY steps: an arm64 image needs no emulation."""
    from factory.packaging.context import FIXED_MTIME

    eng = container_engine or engine()
    arch = arch or host_arch()
    base = ensure_base_image(eng, arch=arch)
    with tempfile.TemporaryDirectory(prefix="mf-smoke-") as tmp:
        context = _context(Path(tmp) / "ctx", arch, with_device_sdk)
        args = ["build", "--network=host", "--platform", f"linux/{arch}", "--build-arg", f"TARGETARCH={arch}",
                "--build-arg", f"BASE_IMAGE={base}"]
        if eng.is_podman:
            args += ["--pull=never", "--timestamp", str(FIXED_MTIME), "--identity-label=false", "--omit-history"]
        eng.run([*args, "-t", tag, str(context)])
    return tag


def smoke_module_hash() -> str:
    """SHA-256 (12 hex) of the smoke module's build context: the local image's tag."""
    digest = hashlib.sha256()
    for path in sorted(p for p in SMOKE_MODULE_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(SMOKE_MODULE_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def smoke_index(registry: str, arches: tuple[str, ...] = ARCHES,
                container_engine: ContainerEngine | None = None) -> str:
    """The smoke module as an image index of ``arches`` in ``registry`` (``registry/repo@sha256:<index>``), so
    each simulated device runs its own architecture's image, as with the model images. Tagged with the
    module's context hash: built and pushed once (file-locked), then found by its tag."""
    from factory.adapters.local.podman import remote_digest

    eng = container_engine or engine()
    suffix = "-".join(arches) if tuple(arches) != ARCHES else ""
    target = f"{registry}/{REPOSITORY}:{smoke_module_hash()}{'-' + suffix if suffix else ''}"
    digest = remote_digest(target)
    if digest:
        return f"{registry}/{REPOSITORY}@{digest}"
    with file_lock(state_dir() / "smoke-image.lock"):
        digest = remote_digest(target)
        if digest:
            return f"{registry}/{REPOSITORY}@{digest}"
        locals_ = [build_smoke_image(f"localhost/model-factory-smoketest:{smoke_module_hash()}-{arch}", eng,
                                     arch=arch) for arch in arches]
        digest = push_index(eng, locals_, f"localhost/model-factory-smoketest-index:{smoke_module_hash()}", target)
    return f"{registry}/{REPOSITORY}@{digest}"


def local_smoke_image(container_engine: ContainerEngine | None = None, registry: str = "",
                      arches: tuple[str, ...] = ARCHES) -> str:
    """The smoke module image the simulated devices run: with a ``registry`` (the stack's dev registry), the
    image index of ``arches`` pushed there (``smoke_index``); without one, this machine's architecture's
    image in local storage, tagged with its context hash and built once (file-locked)."""
    eng = container_engine or engine()
    if registry:
        return smoke_index(registry, arches, eng)
    tag = f"localhost/model-factory-smoketest:{smoke_module_hash()}"
    if eng.image_exists(tag):
        return tag
    with file_lock(state_dir() / "smoke-image.lock"):
        if not eng.image_exists(tag):
            build_smoke_image(tag, eng)
    return tag


def push_by_digest(local_ref: str, registry: str, repository: str, tag: str = "dev",
                   container_engine: ContainerEngine | None = None) -> str:
    """Push ``local_ref`` to ``registry/repository:tag`` (plain-http local registries allowed) and return
    ``registry/repository@sha256:...``."""
    eng = container_engine or engine()
    with tempfile.TemporaryDirectory(prefix="mf-digest-") as tmp:
        digest_file = Path(tmp) / "digest"
        tls = ["--tls-verify=false"] if registry.startswith(("127.0.0.1", "localhost")) else []
        eng.run(["push", *tls, "--digestfile", str(digest_file), local_ref, f"{registry}/{repository}:{tag}"])
        digest = digest_file.read_text().strip()
    return f"{registry}/{repository}@{digest}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--tag", default=LOCAL_TAG)
    parser.add_argument("--push", metavar="REGISTRY", help="e.g. 127.0.0.1:5000; prints the digest reference")
    parser.add_argument("--repository", default=REPOSITORY)
    parser.add_argument("--arch", choices=ARCHES, default="", help="default: this machine's")
    parser.add_argument("--with-device-sdk", action="store_true", help="install azure-iot-device (real devices)")
    parser.add_argument("--index", metavar="REGISTRY", help="build every architecture and push the image index")
    args = parser.parse_args(argv)
    if args.index:
        print(smoke_index(args.index))
        return
    ref = build_smoke_image(args.tag, with_device_sdk=args.with_device_sdk, arch=args.arch)
    print(push_by_digest(ref, args.push, args.repository) if args.push else ref)


if __name__ == "__main__":
    main()
