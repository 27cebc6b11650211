"""Locked runtime dependency sets, installed on the host into one reproducible folder per set and architecture.

A dependency set is a kit environment (``modelkit/environments/<name>/``): ``requirements.txt`` (what the
serving code imports, pinned) and ``requirements.lock`` (every distribution, transitive ones included, with
the sha256 of each wheel for linux/amd64 and linux/arm64; regenerate with ``make lock``).

``install(lock, arch)`` runs ``pip install --only-binary=:all: --platform manylinux_2_{36..17}_<machine> --target
DIR --require-hashes --no-deps --no-compile`` on the host: the target's wheels are unpacked, nothing is
compiled and nothing runs under emulation. Console scripts, tests, caches and C sources are dropped, and every
file gets a fixed mode, so the folder (and the image layer made from it with a fixed timestamp) is a pure
function of the lock and the architecture: models and versions with the same lock share one layer. A set may
also name what its server never loads (``serving-prune.txt`` beside the lock: one path or glob per line,
relative to the installed folder, e.g. onnxruntime's C API library, which its Python binding does not link);
each entry must match something on every architecture, so a stale entry is an error, not a silent no-op.
Installs are cached under ``<state dir>/deps/<arch>-<sha256 of lock + prune list>``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ARCH_MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}
GLIBC_MINOR = 36  # Debian bookworm has glibc 2.36: wheels of any manylinux tag up to it install
PYTHON = ("3.11", "cp311")
DROP_DIRS = {"tests", "__pycache__"}  # as pip would leave them, minus test suites and caches
DROP_SUFFIXES = {".pyc", ".pyx", ".pxd", ".c", ".cpp", ".h", ".hpp"}
PRUNE_FILE = "serving-prune.txt"
PRUNE_LINE = re.compile(r"^[A-Za-z0-9_.*?\[\]-]+(/[A-Za-z0-9_.*?\[\]-]+)*$")
LOCK_LINE = re.compile(r"^[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+(\s+--hash=sha256:[0-9a-f]{64})+$")


class LockError(ValueError):
    """A lock file is missing or malformed; the message names the file and line."""


def pip_platform_args(arch: str) -> list[str]:
    if arch not in ARCH_MACHINES:
        raise ValueError(f"architecture {arch!r}: expected one of {', '.join(ARCH_MACHINES)}")
    machine = ARCH_MACHINES[arch]
    platforms = [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MINOR, 16, -1)]
    platforms.append(f"manylinux2014_{machine}")
    return ["--only-binary=:all:", *(arg for tag in platforms for arg in ("--platform", tag)),
            "--python-version", PYTHON[0], "--implementation", "cp", "--abi", PYTHON[1]]


def check_lock(lock: Path) -> str:
    """The lock's text after checking every line pins one version with at least one sha256."""
    try:
        text = Path(lock).read_text()
    except OSError as exc:
        raise LockError(f"{lock}: {exc.strerror}; regenerate the locks with `make lock`") from None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line and not LOCK_LINE.match(line):
            raise LockError(f"{lock}, line {number}: expected 'name==version --hash=sha256:<64 hex>...', "
                            f"got {line[:80]!r}")
    return text


def prune_patterns(lock: Path) -> list[str]:
    """The set's ``serving-prune.txt`` entries (none when the file is absent), each checked to be a relative
    path or glob inside the installed folder (no ``..``, no absolute path, no spaces)."""
    path = Path(lock).with_name(PRUNE_FILE)
    if not path.is_file():
        return []
    patterns: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if not PRUNE_LINE.match(line) or ".." in line.split("/"):
            raise LockError(f"{path}, line {number}: expected a relative path or glob inside the installed "
                            f"folder (letters, digits, . _ - * ? [ ] and /), got {line[:80]!r}")
        patterns.append(line)
    return patterns


def lock_digest(lock: Path) -> str:
    """The identity of an installed set: the lock's text and its prune list."""
    text = check_lock(lock) + "\0" + "\n".join(prune_patterns(lock))
    return hashlib.sha256(text.encode()).hexdigest()


def prune(root: Path, patterns: list[str], where: str) -> int:
    """Remove what each pattern matches under ``root``; returns the bytes removed. A pattern that matches
    nothing is an error naming it (the lock moved on and the list did not)."""
    removed = 0
    for pattern in patterns:
        matches = sorted(root.glob(pattern))
        if not matches:
            raise LockError(f"{where}: {PRUNE_FILE} entry {pattern!r} matches nothing in the installed set; "
                            f"remove it or update it to the locked versions")
        for match in matches:
            if match.is_dir() and not match.is_symlink():
                removed += sum(f.stat().st_size for f in match.rglob("*") if f.is_file() and not f.is_symlink())
                shutil.rmtree(match)
            elif match.exists() or match.is_symlink():
                removed += match.lstat().st_size
                match.unlink()
    return removed


def _normalise(root: Path) -> None:
    """Drop what the server never needs (console scripts: their #! names the host's Python; test suites, C
    sources) and give every file and folder a fixed mode."""
    shutil.rmtree(root / "bin", ignore_errors=True)
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_symlink():
            continue
        if path.is_dir() and path.name in DROP_DIRS:
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in DROP_SUFFIXES:
            path.unlink()
    for path in root.rglob("*"):
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)


def install(lock: Path, arch: str, cache_dir: Path) -> Path:
    """The installed dependency folder for ``lock`` on ``arch`` (built once, then reused from ``cache_dir``).

    The folder appears only by an atomic rename of a finished install, so its existence is the completion
    mark: nothing but the wheels' files goes into it, hence into the image's dependency layer."""
    digest = lock_digest(lock)
    dest = Path(cache_dir) / f"{arch}-{digest[:24]}"
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}-", dir=dest.parent) as tmp:
        target = Path(tmp) / "site"
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-cache-dir",
             "--no-deps", "--no-compile", "--require-hashes", *pip_platform_args(arch), "--target", str(target),
             "-r", str(lock)], capture_output=True, text=True, timeout=1800, env={**os.environ, "PIP_CONSTRAINT": ""})
        if proc.returncode != 0:
            raise LockError(f"{lock}: installing the {arch} wheels failed: {proc.stderr.strip()[-2000:]}")
        prune(target, prune_patterns(lock), f"{lock} ({arch})")
        _normalise(target)
        try:
            target.rename(dest)
        except OSError:  # another process finished first: keep its folder
            if not dest.is_dir():
                raise
    return dest


def write_lock(requirements: Path, lock: Path) -> str:
    """Resolve ``requirements`` for every architecture and write ``lock`` with each wheel's sha256."""
    hashes: dict[str, set[str]] = {}
    for arch in ARCH_MACHINES:
        with tempfile.TemporaryDirectory(prefix="mf-lock-") as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                            *pip_platform_args(arch), "-d", tmp, "-r", str(requirements)], check=True,
                           timeout=1800, env={**os.environ, "PIP_CONSTRAINT": ""})
            for wheel in Path(tmp).glob("*.whl"):
                name, version = wheel.name.split("-")[:2]
                key = f"{re.sub(r'[-_.]+', '-', name).lower()}=={version}"
                hashes.setdefault(key, set()).add(hashlib.sha256(wheel.read_bytes()).hexdigest())
    lines = [f"# Locked from {requirements.name} for linux/amd64 and linux/arm64 (cp311); regenerate: make lock"]
    for key in sorted(hashes):
        lines.append(" ".join([key, *(f"--hash=sha256:{h}" for h in sorted(hashes[key]))]))
    text = "\n".join(lines) + "\n"
    Path(lock).write_text(text)
    return text


def pinned(requirements: Path) -> dict[str, str]:
    """``{normalised name: version}`` of the ``name==version`` lines of a requirements or lock file."""
    found: dict[str, str] = {}
    for line in Path(requirements).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split(None, 1)[0].split("==", 1)
            found[re.sub(r"[-_.]+", "-", name).lower()] = version
    return found


def main(argv: list[str] | None = None) -> int:
    """``python -m factory.packaging.deps [ENV_DIR...]``: (re)write each environment's requirements.lock."""
    from factory.packaging.context import ENVIRONMENTS

    folders = [Path(a) for a in (argv if argv is not None else sys.argv[1:])] or sorted(ENVIRONMENTS.iterdir())
    for folder in folders:
        requirements = folder / "requirements.txt"
        if requirements.is_file():
            write_lock(requirements, folder / "requirements.lock")
            print(f"locked {requirements} -> {folder / 'requirements.lock'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
