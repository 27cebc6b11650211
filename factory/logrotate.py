"""Size-rotated service logs: a service's stdout/stderr is piped through a tiny process that writes it to
``<name>.log`` and, when that would pass ``FACTORY_LOG_MAX_BYTES``, moves it to ``<name>.log.1`` (older ones
shift up, the oldest beyond ``FACTORY_LOG_FILES`` is dropped). Files are 0600.

    python -m factory.logrotate PATH --max-bytes N --files K   # reads stdin until EOF
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from factory.settings import SettingsError


@dataclass(frozen=True)
class LogLimits:
    max_bytes: int = 10 * 1024 * 1024  # FACTORY_LOG_MAX_BYTES: the most one log file holds
    files: int = 5  # FACTORY_LOG_FILES: files kept per service, the current one included

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LogLimits:
        values: dict[str, int] = {}
        for name, attr, least in (("FACTORY_LOG_MAX_BYTES", "max_bytes", 1024), ("FACTORY_LOG_FILES", "files", 1)):
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            try:
                values[attr] = int(raw)
            except ValueError:
                raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
            if values[attr] < least:
                raise SettingsError(f"{name} must be at least {least}, got {raw!r}")
        return cls(**values)


class RotatingWriter:
    """Appends bytes to ``path``; no file grows past ``max_bytes`` (a line is cut only when longer)."""

    def __init__(self, path: Path, limits: LogLimits) -> None:
        self.path, self.limits = Path(path), limits
        self._open()

    def _open(self) -> None:
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(self.fd, 0o600)
        self.size = os.fstat(self.fd).st_size

    def rotate(self) -> None:
        os.close(self.fd)
        keep = self.limits.files
        if keep == 1:
            self.path.unlink(missing_ok=True)
        else:
            Path(f"{self.path}.{keep - 1}").unlink(missing_ok=True)
            for i in range(keep - 2, 0, -1):
                older = Path(f"{self.path}.{i}")
                if older.exists():
                    older.rename(f"{self.path}.{i + 1}")
            self.path.rename(f"{self.path}.1")
        self._open()

    def write(self, data: bytes) -> None:
        while data:
            room = self.limits.max_bytes - self.size
            if room <= 0:
                self.rotate()
                continue
            piece = data[:room]
            if len(data) > room:  # it does not all fit: end this file at a line break if one fits
                cut = piece.rfind(b"\n")
                if cut >= 0:
                    piece = piece[:cut + 1]
                elif self.size:  # start the line in a fresh file
                    self.rotate()
                    continue
            os.write(self.fd, piece)
            self.size += len(piece)
            data = data[len(piece):]

    def close(self) -> None:
        os.close(self.fd)


def start_rotator(path: Path, limits: LogLimits) -> subprocess.Popen[bytes]:
    """The rotating writer as its own process (own session); give its ``stdin`` to the service as stdout and
    close yours. It exits when every writer has closed the pipe (the service ended)."""
    return subprocess.Popen([sys.executable, "-m", "factory.logrotate", str(path), "--max-bytes",
                             str(limits.max_bytes), "--files", str(limits.files)],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True,
                            cwd=Path(__file__).resolve().parent.parent)


def tail_lines(path: Path, count: int, files: int = LogLimits.files) -> list[str]:
    """The last ``count`` lines of a rotated log, reaching into ``.1``, ``.2``... when the current is short."""
    lines: list[str] = []
    for i in range(files):
        part = path if i == 0 else Path(f"{path}.{i}")
        if not part.exists():
            break
        lines = part.read_text(errors="replace").splitlines() + lines
        if len(lines) >= count:
            break
    return lines[-count:] if count > 0 else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--max-bytes", type=int, default=LogLimits.max_bytes)
    parser.add_argument("--files", type=int, default=LogLimits.files)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # outlive the service's last words: stop at EOF only
    limits = LogLimits.from_env({"FACTORY_LOG_MAX_BYTES": str(args.max_bytes), "FACTORY_LOG_FILES": str(args.files)})
    writer = RotatingWriter(args.path, limits)
    while chunk := os.read(0, 65536):
        writer.write(chunk)
    writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
