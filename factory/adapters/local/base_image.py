"""The local base image for model and edge-module images, made offline once and cached.

No public registry can be reached here, so the base (Debian bookworm minbase with Python 3.11, venv and
CA certificates) is made with ``debootstrap`` from the machine's Debian mirror and imported into the
container engine. Docs, man pages, locales and apt lists are removed to keep it small. The host's CA
bundle is copied in (pip in a build reaches PyPI through a TLS-intercepting proxy here) and ``PIP_CERT``
points at it. Azure builds pass a public slim image as ``BASE_IMAGE`` instead.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from factory.adapters.local.containers import ContainerEngine, _state_dir, engine
from factory.adapters.local.host import file_lock

BASE_IMAGE = "localhost/model-factory-base:bookworm-py311"
PACKAGES = "python3,python3-venv,ca-certificates"
TRIM = ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt",
        "var/lib/apt/lists", "usr/share/common-licenses"]


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


def ensure_base_image(container_engine: ContainerEngine | None = None, ref: str = BASE_IMAGE) -> str:
    """Return ``ref``, building it with debootstrap first if the engine does not have it yet.

    Safe to call from several processes at once: a file lock makes the build happen once.
    """
    eng = container_engine or engine()
    if eng.image_exists(ref):
        return ref
    with file_lock(_state_dir() / "base-image.lock"):
        if eng.image_exists(ref):
            return ref
        debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
        with tempfile.TemporaryDirectory(prefix="mf-rootfs-") as tmp:
            root = Path(tmp) / "rootfs"
            subprocess.run([debootstrap, "--variant=minbase", f"--include={PACKAGES}", "bookworm", str(root),
                            _mirror()], check=True, capture_output=True, timeout=900)
            for rel in TRIM:
                shutil.rmtree(root / rel, ignore_errors=True)
            host_ca = Path("/etc/ssl/certs/ca-certificates.crt")
            if host_ca.exists():
                shutil.copyfile(host_ca, root / "etc/ssl/certs/ca-certificates.crt")
            tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
            imported = subprocess.run(
                [eng.binary, "import", "--change", "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
                 "--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["python3"]', "-", ref],
                stdin=tar.stdout, env=eng.env, capture_output=True, timeout=600)
            tar.wait()
            if imported.returncode != 0:
                raise RuntimeError(f"importing the base image failed: {imported.stderr.decode()[-2000:]}")
    return ref
