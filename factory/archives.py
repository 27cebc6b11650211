"""Safe unpacking of an uploaded ``.zip`` or ``.tar.gz``: every member checked before a byte is written.

``extract`` refuses, naming the archive and the member: a file that is not a zip or gzip'd tar, or is corrupt;
an empty archive; a member with an absolute path, a ``..`` part or a backslash (zip-slip); a symbolic or hard
link, a device or a FIFO; more members or more uncompressed bytes than allowed. Sizes are counted on the bytes
actually decompressed while streaming, never taken from the headers (a zip bomb lies in them). Files are
written only below ``dest`` (a run-scoped folder), created exclusively, never through a link.
"""

from __future__ import annotations

import gzip
import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

CHUNK = 64 * 1024
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty zip's end-of-directory record
_GZIP_MAGIC = b"\x1f\x8b"


class ArchiveError(ValueError):
    """The archive cannot be accepted; ``member`` is the member at fault ('' = the archive itself)."""

    def __init__(self, archive: str, expected: str, got: str = "", member: str = "") -> None:
        self.archive, self.member, self.expected, self.got = archive, member, expected, got
        where = f"member {member!r}: " if member else ""
        super().__init__(f"archive {archive}: {where}expected {expected}" + (f", got {got}" if got else ""))


@dataclass(frozen=True)
class Limits:
    """At most ``max_members`` members (directories included) and ``max_bytes`` uncompressed bytes in all."""

    max_members: int
    max_bytes: int


@dataclass(frozen=True)
class _Member:
    name: str
    kind: str  # "file", "dir", "symlink", "hardlink", "special"
    open: Callable[[], IO[bytes] | None]  # the member's bytes, for files


def archive_kind(path: Path) -> str | None:
    """``"zip"``, ``"tar.gz"`` or None, from the file's first bytes (never from its name)."""
    with Path(path).open("rb") as handle:
        head = handle.read(4)
    if head in _ZIP_MAGIC:
        return "zip"
    if head[:2] == _GZIP_MAGIC:
        return "tar.gz"
    return None


def safe_name(archive: str, raw: str) -> str:
    """The member's path relative to the archive root, or ``ArchiveError`` for a zip-slip name."""
    if not raw or "\0" in raw:
        raise ArchiveError(archive, "a member name", "an empty name", raw)
    if "\\" in raw:
        raise ArchiveError(archive, "a relative path with / separators (no backslash)", repr(raw), raw)
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise ArchiveError(archive, "a relative path inside the archive", "an absolute path", raw)
    parts = [p for p in PurePosixPath(raw).parts if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(archive, "a path that stays inside the archive", "a '..' part (zip-slip)", raw)
    if not parts:
        raise ArchiveError(archive, "a member name", "an empty path", raw)
    return "/".join(parts)


def _zip_members(archive: str, zf: zipfile.ZipFile) -> Iterator[_Member]:
    for info in zf.infolist():
        kind_bits = stat.S_IFMT(info.external_attr >> 16)  # 0 when the writer set permission bits only
        if kind_bits == stat.S_IFLNK:
            kind = "symlink"
        elif info.is_dir():
            kind = "dir"
        elif kind_bits not in (0, stat.S_IFREG):
            kind = "special"
        else:
            kind = "file"
        yield _Member(info.filename, kind, lambda info=info: zf.open(info))


def _tar_members(archive: str, tf: tarfile.TarFile) -> Iterator[_Member]:
    for info in tf:  # streaming: the member list is never read ahead
        kind = ("symlink" if info.issym() else "hardlink" if info.islnk() else "dir" if info.isdir()
                else "file" if info.isreg() else "special")
        yield _Member(info.name, kind, lambda info=info: tf.extractfile(info))


@contextmanager
def _members(path: Path, archive: str) -> Generator[Iterator[_Member]]:
    kind = archive_kind(path)
    if kind is None:
        raise ArchiveError(archive, "a .zip or .tar.gz archive", "a file that is neither")
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as zf:
                yield _zip_members(archive, zf)
        else:
            with tarfile.open(path, mode="r|gz") as tf:
                yield _tar_members(archive, tf)
    except (zipfile.BadZipFile, tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise ArchiveError(archive, f"an intact {kind} archive", f"a corrupt one ({exc})") from None


def _write(archive: str, name: str, source: IO[bytes], target: Path, budget: int) -> int:
    """Stream ``source`` into ``target`` (new file, no link followed); returns bytes written, at most
    ``budget`` (``ArchiveError`` past it)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    written = 0
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        raise ArchiveError(archive, "each member once", "a duplicate", name) from None
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > budget:
                raise ArchiveError(archive, "at most the allowed uncompressed bytes", "more (a zip bomb?)", name)
            out.write(chunk)
    return written


def extract(path: Path | str, dest: Path | str, limits: Limits, archive: str | None = None) -> list[str]:
    """Check every member of ``path`` and write its files below ``dest`` (created, must be empty); returns the
    files' relative paths in archive order. ``archive`` is how the upload is named in messages."""
    path, dest = Path(path), Path(dest)
    archive = archive or path.name
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    if any(dest.iterdir()):
        raise ArchiveError(archive, f"an empty extraction folder {dest}", "one holding files")
    root = dest.resolve()
    files: list[str] = []
    members = total = 0
    with _members(path, archive) as found:
        for member in found:
            members += 1
            if members > limits.max_members:
                raise ArchiveError(archive, f"at most {limits.max_members} members", "more", member.name)
            if member.kind in ("symlink", "hardlink"):
                got = "a symbolic link" if member.kind == "symlink" else "a hard link"
                raise ArchiveError(archive, "regular files and folders only", got, member.name)
            if member.kind == "special":
                raise ArchiveError(archive, "regular files and folders only", "a device or FIFO", member.name)
            name = safe_name(archive, member.name)
            target = root.joinpath(*name.split("/"))
            if root not in target.parents:
                raise ArchiveError(archive, "a path inside the archive", "one that leaves it", member.name)
            if member.kind == "dir":
                target.mkdir(parents=True, exist_ok=True, mode=0o700)
                continue
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            parent = target.parent.resolve()
            if parent != root and root not in parent.parents:
                raise ArchiveError(archive, "a path inside the archive", "one through a link", member.name)
            source = member.open()
            if source is None:
                raise ArchiveError(archive, "a readable file", "a member without data", member.name)
            with source:
                total += _write(archive, member.name, source, target, limits.max_bytes - total)
            files.append(name)
    if not files:
        raise ArchiveError(archive, "at least one file", "an empty archive")
    return files
