"""Secrets at rest: state folders only their owner can enter (0700), key/approval/state files only their
owner can read (0600), and links as logs may show them (signature cut short)."""

from __future__ import annotations

import os
import re
from pathlib import Path

_SIG = re.compile(r"(sig=)([0-9a-fA-F]{8})[0-9a-fA-F]+")


def private_dir(path: Path) -> Path:
    """Make ``path`` (and missing parents) and narrow it to 0700."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _temporary(path: Path, flags: int = 0) -> tuple[Path, int]:
    """A new file beside ``path`` to write it through (in a 0700 folder, created 0600), and its descriptor."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | flags, 0o600)


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically, created 0600 (never readable by others, not even briefly)."""
    tmp, fd = _temporary(path)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path


def copy_private(source: Path, dest: Path) -> Path:
    """Copy ``source`` to ``dest`` as ``write_private`` writes, and durably: the file and its folder are fsynced
    before this returns, so a crash right after cannot take the copy."""
    tmp, fd = _temporary(dest, os.O_NOFOLLOW)
    try:
        with source.open("rb") as data, os.fdopen(fd, "wb") as out:
            while chunk := data.read(1 << 20):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(dest)
    folder = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return dest


def redact_link(url: str) -> str:
    """A signed link with its signature cut to 8 characters: enough to tell links apart, useless to approve."""
    return _SIG.sub(lambda m: f"{m[1]}{m[2]}…", url)
