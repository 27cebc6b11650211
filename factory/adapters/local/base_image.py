"""The local base images (linux/amd64 and linux/arm64) for model and edge-module images, made offline once
per machine and cached in the container engine.

No public registry can be reached here, so the base (Debian bookworm minbase with Python 3.11, venv and
CA certificates) is made with ``debootstrap`` from the machine's Debian mirror and imported into the
container engine. The arm64 base is made the same way with ``debootstrap --arch=arm64 --foreign`` and its
second stage run under ``qemu-aarch64-static`` (``qemu-user-static`` + ``binfmt-support``, installed by
``scripts/install-system-deps.sh``). Docs, man pages, locales and apt lists are removed to keep it small. The
host's CA bundle is copied in (pip in a build reaches PyPI through a TLS-intercepting proxy here) and
``PIP_CERT`` points at it. Azure builds pass a public slim image (a multi-arch index) as ``BASE_IMAGE``.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from factory.adapters.local.containers import ContainerEngine, engine, state_dir
from factory.adapters.local.host import file_lock

BASE_IMAGE = "localhost/model-factory-base:bookworm-py311"
ARCHES = ("amd64", "arm64")
QEMU = {"arm64": "qemu-aarch64-static", "amd64": "qemu-x86_64-static"}
PACKAGES = "python3,python3-venv,ca-certificates"
TRIM = ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt",
        "var/lib/apt/lists", "usr/share/common-licenses", "var/log"]


def host_arch() -> str:
    """The machine's architecture in OCI terms (amd64, arm64)."""
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def base_ref(arch: str) -> str:
    """The local base image reference for ``arch`` (the host's architecture keeps the historical name)."""
    if arch not in ARCHES:
        raise ValueError(f"architecture {arch!r}: expected one of {', '.join(ARCHES)}")
    return BASE_IMAGE if arch == "amd64" else f"{BASE_IMAGE}-{arch}"


def _mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 or one-line sources)."""
    for path in [*Path("/etc/apt/sources.list.d").glob("*"), Path("/etc/apt/sources.list")]:
        if not path.is_file():
            continue
        text = path.read_text()
        for pattern in (r"^URIs:\s*(\S+/debian)\s*$", r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)\s+bookworm"):
            match = re.search(pattern, text, re.MULTILINE)
            if match:
                return match.group(1)
    return "http://deb.debian.org/debian"


def emulation_available(arch: str) -> bool:
    """True when binaries of ``arch`` run here: the host's own, or a registered qemu binfmt handler."""
    if arch == host_arch():
        return True
    name = {"arm64": "qemu-aarch64", "amd64": "qemu-x86_64"}[arch]
    entry = Path("/proc/sys/fs/binfmt_misc") / name
    return entry.is_file() and entry.read_text().startswith("enabled")


def _bootstrap(root: Path, arch: str) -> None:
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    common = ["--variant=minbase", f"--include={PACKAGES}", f"--arch={arch}"]
    if arch == host_arch():
        subprocess.run([debootstrap, *common, "bookworm", str(root), _mirror()], check=True, capture_output=True,
                       timeout=900)
        return
    if not emulation_available(arch):
        raise RuntimeError(f"building the {arch} base needs {QEMU[arch]} registered with binfmt_misc: run "
                           "scripts/install-system-deps.sh (installs qemu-user-static and binfmt-support)")
    subprocess.run([debootstrap, "--foreign", *common, "bookworm", str(root), _mirror()], check=True,
                   capture_output=True, timeout=900)
    # the binfmt handler is registered with the F flag (opened at registration), so chroot needs no copy of qemu
    subprocess.run(["chroot", str(root), "/debootstrap/debootstrap", "--second-stage"], check=True,
                   capture_output=True, timeout=3600)


def ensure_base_image(container_engine: ContainerEngine | None = None, ref: str | None = None,
                      arch: str = "amd64") -> str:
    """Return the base image for ``arch`` (``ref`` overrides its name), building it with debootstrap first if
    the engine does not have it yet. Safe to call from several processes at once: a file lock per
    architecture makes the build happen once per machine."""
    eng = container_engine or engine()
    ref = ref or base_ref(arch)
    if eng.image_exists(ref):
        return ref
    with file_lock(state_dir() / f"base-image-{arch}.lock"):
        if eng.image_exists(ref):
            return ref
        with tempfile.TemporaryDirectory(prefix="mf-rootfs-") as tmp:
            root = Path(tmp) / "rootfs"
            _bootstrap(root, arch)
            for rel in TRIM:
                shutil.rmtree(root / rel, ignore_errors=True)
            host_ca = Path("/etc/ssl/certs/ca-certificates.crt")
            if host_ca.exists():
                shutil.copyfile(host_ca, root / "etc/ssl/certs/ca-certificates.crt")
            tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
            imported = subprocess.run(
                [eng.binary, "import", "--os", "linux", "--arch", arch,
                 "--change", "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
                 "--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["python3"]', "-", ref],
                stdin=tar.stdout, env=eng.env, capture_output=True, timeout=600)
            tar.wait()
            if imported.returncode != 0:
                raise RuntimeError(f"importing the {arch} base image failed: {imported.stderr.decode()[-2000:]}")
    return ref
