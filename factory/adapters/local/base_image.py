"""The local base images (linux/amd64 and linux/arm64) for model and edge-module images, made offline once
per machine and cached in the container engine.

No public registry can be reached here, so the base (Debian bookworm minbase with Python 3.11, venv and
CA certificates) is made with ``debootstrap`` from the machine's Debian mirror and imported into the
container engine. The arm64 base is made the same way with ``debootstrap --arch=arm64 --foreign`` and its
second stage run under ``qemu-aarch64-static`` (``qemu-user-static`` + ``binfmt-support``, installed by
``scripts/install-system-deps.sh``). Docs, man pages, locales and apt lists are removed to keep it small. The
host's CA bundle is copied in (pip in a build reaches PyPI through a TLS-intercepting proxy here) and
``PIP_CERT`` points at it. Azure builds pass a public slim image (a multi-arch index) as ``BASE_IMAGE``.

The emulated second stage takes minutes (about 20 on a loaded 2-core machine, measured), so it has no fixed
time limit: it is stopped only when it prints nothing for ``STALL_S`` seconds (it prints a line per package).
``python -m factory.adapters.local.base_image [--arch A ...]`` builds the missing bases with their progress
(``make bases``; ``make test-slow`` runs it first, so no test spends its time limit on a base).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from factory.adapters.local.containers import ContainerEngine, engine, state_dir
from factory.adapters.local.host import file_lock

BASE_IMAGE = "localhost/model-factory-base:bookworm-py311"
ARCHES = ("amd64", "arm64")
QEMU = {"arm64": "qemu-aarch64-static", "amd64": "qemu-x86_64-static"}
PACKAGES = "python3,python3-venv,ca-certificates"
TRIM = ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt",
        "var/lib/apt/lists", "usr/share/common-licenses", "var/log"]
STALL_S = 900.0  # the emulated second stage is stopped when it prints nothing for this long


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
    run_with_progress(["chroot", str(root), "/debootstrap/debootstrap", "--second-stage"], STALL_S,
                      lambda line: _say(f"{arch} base: {line}"))


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_with_progress(cmd: list[str], stall_s: float, progress: Callable[[str], None] | None = None) -> str:
    """Run ``cmd`` while it makes progress: each output line goes to ``progress``; the process is killed only
    when it prints nothing for ``stall_s`` seconds. Returns the output; raises ``RuntimeError`` on a stall or
    a non-zero exit, with the last lines."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                            start_new_session=True)  # its own process group: a stall stops its children too
    lines: list[str] = []
    last = [time.monotonic()]
    stalled = threading.Event()

    def watchdog() -> None:
        while proc.poll() is None:
            if time.monotonic() - last[0] > stall_s:
                stalled.set()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                return
            time.sleep(min(1.0, stall_s / 4))

    threading.Thread(target=watchdog, daemon=True).start()
    assert proc.stdout is not None
    for line in proc.stdout:
        last[0] = time.monotonic()
        lines.append(line.rstrip())
        if progress is not None:
            progress(line.rstrip())
    proc.wait()
    tail = "\n".join(lines[-20:])
    if stalled.is_set():
        raise RuntimeError(f"{' '.join(cmd[:3])} printed nothing for {stall_s:g} s and was stopped:\n{tail}")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed (exit {proc.returncode}):\n{tail}")
    return "\n".join(lines)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the local base images that are missing (cached in the "
                                                 "container engine), with the emulated stage's progress.")
    parser.add_argument("--arch", action="append", choices=ARCHES, help="default: every architecture")
    args = parser.parse_args(argv)
    for arch in args.arch or ARCHES:
        started = time.monotonic()
        ref = ensure_base_image(arch=arch)
        _say(f"{arch} base: {ref} ready ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
