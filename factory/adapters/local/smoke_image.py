"""Build (and push) the smoke-test module image locally:
``python -m factory.adapters.local.smoke_image --push REGISTRY``.

On Azure the same Dockerfile is built by an ACR Task with the default public ``BASE_IMAGE`` and the IoT Hub
device SDK; locally it is built on the offline base image, without the SDK (the simulator's twin endpoint
needs only the standard library).
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

from factory.adapters.local.base_image import ensure_base_image
from factory.adapters.local.containers import ContainerEngine, engine, state_dir
from factory.adapters.local.host import file_lock

SMOKE_MODULE_DIR = Path(__file__).resolve().parents[3] / "edge" / "smoke_module"
LOCAL_TAG = "localhost/model-factory-smoketest:dev"


def build_smoke_image(tag: str = LOCAL_TAG, container_engine: ContainerEngine | None = None,
                      with_device_sdk: bool = False) -> str:
    """Build ``edge/smoke_module`` as ``tag`` on the local base image; returns ``tag``."""
    eng = container_engine or engine()
    base = ensure_base_image(eng)
    eng.run(["build", "--network=host", "--build-arg", f"BASE_IMAGE={base}",
             "--build-arg", f"WITH_IOT_DEVICE_SDK={1 if with_device_sdk else 0}", "-t", tag, str(SMOKE_MODULE_DIR)])
    return tag


def smoke_module_hash() -> str:
    """SHA-256 (12 hex) of the smoke module's build context: the local image's tag."""
    digest = hashlib.sha256()
    for path in sorted(p for p in SMOKE_MODULE_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(SMOKE_MODULE_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def local_smoke_image(container_engine: ContainerEngine | None = None) -> str:
    """The smoke module image in local storage, tagged with its context hash; built once (file-locked, so
    parallel runs do not build it twice). The simulator runs it from local storage."""
    eng = container_engine or engine()
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
    parser.add_argument("--repository", default="model-factory/smoketest")
    parser.add_argument("--with-device-sdk", action="store_true", help="install azure-iot-device (real devices)")
    args = parser.parse_args(argv)
    ref = build_smoke_image(args.tag, with_device_sdk=args.with_device_sdk)
    print(push_by_digest(ref, args.push, args.repository) if args.push else ref)


if __name__ == "__main__":
    main()
