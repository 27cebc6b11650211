"""The local base images (linux/amd64 and linux/arm64) for model and edge-module images, made offline once
per machine and cached in the container engine.

No public registry can be reached here, so the base is assembled from the machine's Debian mirror: a
distroless-style root with Python 3.11 and the shared libraries its standard library loads, and nothing else
(no shell, no pip, no apt, no coreutils). Every model and edge image is COPY-only, so nothing runs in the base
at build time. ``debootstrap --download-only --variant=minbase --include=python3,ca-certificates`` fetches
the packages for the target architecture (no emulation: nothing is run, only downloaded); the runtime closure
(``RUNTIME``) is unpacked with ``dpkg-deb -x`` into a fresh root, and what their maintainer scripts would have
done and a server needs is done by hand: the merged-/usr symlinks, ``/usr/bin/python3``, ``/etc/passwd`` and
``/etc/group`` (root, nobody), ``/etc/localtime`` (UTC), ``/tmp``, the CA bundle (the host's: it holds the
TLS-intercepting proxy's CA here; else the ``ca-certificates`` package's certificates) where OpenSSL looks
for it, and the standard library's byte code (compiled by the host's Python 3.11: byte code does not depend
on the architecture). Docs, locales, gconv modules and what a server never imports (``TRIM``) are left out.
Debian's ``ld.so`` searches the multiarch folders, so no ``ld.so.cache`` is needed. Azure builds pass a
public slim image (a multi-arch index) as ``BASE_IMAGE``.

Both architectures take about a minute (mostly the download). ``python -m factory.adapters.local.base_image
[--arch A ...]`` builds the missing bases with their progress (``make bases``; ``make test-slow`` runs it
first, so no test spends its time limit on a base).
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

BASE_IMAGE = "localhost/model-factory-base:bookworm-py311-slim"  # a new tag when the recipe changes
ARCHES = ("amd64", "arm64")
# what python3 and the standard library modules a server uses load (ssl, hashlib, sqlite3, zlib, lzma, bz2,
# ctypes, uuid, crypt, pyexpat), libstdc++ for C++ wheels, the time zones and MIME types; left out: readline,
# curses, dbm, nis (their libraries), the shell and every tool
RUNTIME = ("base-files", "libc6", "libgcc-s1", "libstdc++6", "libssl3", "zlib1g", "libexpat1", "libffi8",
           "libbz2-1.0", "liblzma5", "libsqlite3-0", "libuuid1", "libcrypt1", "libpython3.11-minimal",
           "libpython3.11-stdlib", "python3.11-minimal", "media-types", "tzdata")
CA_PACKAGE = "ca-certificates"  # its certificates make the bundle when the host has none
TRIM = ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian",
        "usr/share/common-licenses", "usr/share/gcc", "usr/share/gdb", "usr/share/zoneinfo/right",
        "usr/lib/*-linux-gnu/gconv", "usr/lib/python3.11/pydoc_data", "usr/lib/python3.11/lib2to3",
        "usr/lib/python3.11/ensurepip", "usr/lib/python3.11/idlelib", "usr/lib/python3.11/tkinter",
        "usr/lib/python3.11/turtledemo", "usr/lib/python3.11/turtle.py", "usr/lib/python3.11/distutils",
        "usr/lib/python3.11/venv", "usr/lib/python3.11/config-3.11-*", "usr/lib/python3/dist-packages"]
STALL_S = 600.0  # the download is stopped when it prints nothing for this long
USERS = "root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"


def host_arch() -> str:
    """The machine's architecture in OCI terms (amd64, arm64)."""
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def base_ref(arch: str) -> str:
    """The local base image reference for ``arch`` (amd64's has no suffix, arm64's ends in ``-arm64``)."""
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


def _download(dest: Path, arch: str) -> Path:
    """Download (not install) the minbase + python3 packages for ``arch``; the folder of the .deb files."""
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    run_with_progress([debootstrap, "--download-only", "--variant=minbase", f"--include=python3,{CA_PACKAGE}",
                       f"--arch={arch}", "bookworm", str(dest), _mirror()], STALL_S,
                      lambda line: _say(f"{arch} base: {line}") if line.startswith("I: Retrieving") else None)
    return dest / "var/cache/apt/archives"


def _deb(debs: Path, package: str, arch: str) -> Path:
    found = sorted(debs.glob(f"{package}_*_{arch}.deb")) + sorted(debs.glob(f"{package}_*_all.deb"))
    if len(found) != 1:
        raise RuntimeError(f"the {arch} base needs exactly one {package} package in {debs}, found "
                           f"{[p.name for p in found]}: is the Debian mirror ({_mirror()}) complete?")
    return found[0]


def _merge_usr(root: Path) -> None:
    """Move /bin, /sbin, /lib and /lib64 under /usr and leave symlinks (Debian bookworm's merged /usr)."""
    for name in ("bin", "sbin", "lib", "lib64"):
        top, usr = root / name, root / "usr" / name
        if top.is_dir() and not top.is_symlink():
            shutil.copytree(top, usr, symlinks=True, dirs_exist_ok=True)
            shutil.rmtree(top)
        if usr.is_dir():
            top.symlink_to(f"usr/{name}")


def _ca_bundle(root: Path, debs: Path, arch: str) -> None:
    bundle = root / "etc/ssl/certs/ca-certificates.crt"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    host_ca = Path("/etc/ssl/certs/ca-certificates.crt")
    if host_ca.is_file():
        shutil.copyfile(host_ca, bundle)
    else:
        with tempfile.TemporaryDirectory(prefix="mf-ca-") as tmp:
            subprocess.run(["dpkg-deb", "-x", str(_deb(debs, CA_PACKAGE, arch)), tmp], check=True)
            certs = sorted(Path(tmp, "usr/share/ca-certificates").rglob("*.crt"))
            bundle.write_text("".join(cert.read_text() for cert in certs))
    ssl_dir = root / "usr/lib/ssl"  # OpenSSL's default paths (the openssl package's symlinks)
    ssl_dir.mkdir(parents=True, exist_ok=True)
    (ssl_dir / "certs").symlink_to("/etc/ssl/certs")
    (ssl_dir / "cert.pem").symlink_to("/etc/ssl/certs/ca-certificates.crt")


def assemble_root(download: Path, root: Path, arch: str) -> None:
    """Make the base's root file system for ``arch`` in ``root`` (see the module docstring)."""
    debs = _download(download, arch)
    root.mkdir(parents=True)
    for package in RUNTIME:
        subprocess.run(["dpkg-deb", "-x", str(_deb(debs, package, arch)), str(root)], check=True)
    _merge_usr(root)
    for rel in TRIM:
        for path in root.glob(rel):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    (root / "usr/bin/python3").symlink_to("python3.11")
    etc = root / "etc"
    (etc / "passwd").write_text(USERS)
    (etc / "group").write_text(GROUP)
    (etc / "timezone").write_text("Etc/UTC\n")
    with contextlib.suppress(FileNotFoundError):
        (etc / "localtime").unlink()
    (etc / "localtime").symlink_to("/usr/share/zoneinfo/Etc/UTC")
    for rel, mode in (("tmp", 0o1777), ("var/tmp", 0o1777), ("root", 0o700), ("run", 0o755)):
        (root / rel).mkdir(parents=True, exist_ok=True)
        os.chmod(root / rel, mode)
    _ca_bundle(root, debs, arch)
    if sys.version_info[:2] == (3, 11):  # byte code is the same on every architecture for one Python version
        stdlib = root / "usr/lib/python3.11"
        subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", "-d", "/usr/lib/python3.11",
                        str(stdlib)], check=True, capture_output=True, timeout=600)


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
    """Return the base image for ``arch`` (``ref`` overrides its name), assembling it from Debian packages first if
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
            assemble_root(Path(tmp) / "download", root, arch)
            tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
            imported = subprocess.run(
                [eng.binary, "import", "--os", "linux", "--arch", arch,
                 "--change", "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
                 "--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["python3"]', "-", ref],
                stdin=tar.stdout, env=eng.env, capture_output=True, timeout=600)
            tar.wait()
            if imported.returncode != 0:
                raise RuntimeError(f"importing the {arch} base image failed: {imported.stderr.decode()[-2000:]}")
    return ref


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the local base images that are missing (cached in the "
                                                 "container engine), with the download's progress.")
    parser.add_argument("--arch", action="append", choices=ARCHES, help="default: every architecture")
    parser.add_argument("--names", action="store_true", help="only print the base images' names, one per line")
    args = parser.parse_args(argv)
    if args.names:
        print("\n".join(base_ref(arch) for arch in args.arch or ARCHES))
        return 0
    for arch in args.arch or ARCHES:
        started = time.monotonic()
        ref = ensure_base_image(arch=arch)
        _say(f"{arch} base: {ref} ready ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
