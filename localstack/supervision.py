"""What the local stack's supervisor needs from Linux: who listens on a port, which processes belong to a
stack (their command line names its state folder), and a child that dies with its parent.

- ``listeners(port)``: the pids holding a listening TCP socket on the port (``/proc/net/tcp*`` inodes matched
  to ``/proc/<pid>/fd``); a process of another user whose fds cannot be read is not listed, so it is never
  taken for one of the stack's.
- ``stack_processes(state_dir)``: every process (not this one nor its ancestors) with an argument inside the
  state folder: the services, their children (a registry's ``docker-registry serve <state>/registries/...``)
  and the log rotators. ``model-factory down`` ends what is left of them; ``up`` ends one that holds a stack
  port.
- ``die_with_parent``: a ``preexec_fn`` setting ``PR_SET_PDEATHSIG``: a service's child gets SIGKILL when the
  service (its wrapper) dies, even by SIGKILL of the wrapper alone, so it cannot keep the port.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import time
from pathlib import Path

log = logging.getLogger(__name__)

_LISTEN = "0A"
_PR_SET_PDEATHSIG = 1


def _socket_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def listeners(port: int) -> set[int]:
    """The pids holding a listening TCP socket on ``port`` (those this user may see)."""
    wanted = {f"socket:[{inode}]" for inode in _socket_inodes(port)}
    found: set[int] = set()
    if not wanted:
        return found
    for pid in _pids():
        fd_dir = Path(f"/proc/{pid}/fd")
        with contextlib.suppress(OSError):
            for fd in os.listdir(fd_dir):
                with contextlib.suppress(OSError):
                    if os.readlink(fd_dir / fd) in wanted:
                        found.add(pid)
                        break
    return found


def command_line(pid: int) -> list[str]:
    """A process's arguments ([] when it is gone or not readable)."""
    try:
        return [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0") if a]
    except OSError:
        return []


def process_group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _ancestors() -> set[int]:
    found, pid = {os.getpid()}, os.getpid()
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        found.add(pid)
    return found


def belongs_to(pid: int, state_dir: Path) -> bool:
    """Whether one of the process's arguments is a path inside ``state_dir`` (relative ones from its cwd).

    Paths are compared as written (normalised, no symlink followed): resolving ``/dev/fd/3`` here would follow
    *this* process's fd 3 (``/proc/self``), which may be a file of the state folder, and take a stranger's
    ``bash /dev/fd/3`` for the stack's (``down`` ended such shells)."""
    root = Path(os.path.normpath(state_dir.resolve()))
    try:
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return False
    for arg in command_line(pid)[1:]:
        for part in arg.split("=")[-1:]:
            if "/" not in part and not part.startswith("."):
                continue
            path = Path(os.path.normpath(part if part.startswith("/") else cwd / part))
            if path.parts[1:2] in (("dev",), ("proc",)):  # descriptors and /proc: never a state file
                continue
            if path.is_relative_to(root):
                return True
    return False


def stack_processes(state_dir: Path) -> list[int]:
    """The live processes of the stack in ``state_dir`` (see the module doc), never this one's own line."""
    mine = _ancestors()
    return sorted(pid for pid in _pids() if pid not in mine and belongs_to(pid, state_dir))


def end(pids: list[int], timeout: float = 10) -> None:
    """SIGTERM each, wait up to ``timeout`` s, then SIGKILL what is left."""
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def started_at(pid: int) -> str:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22), "" when it is gone:
    with the pid, it names one process. A pid alone is reused (``pid_max`` can be 32768): a pid file whose
    process is gone may name another process later, and ending its group would end a stranger's."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 else ""


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by its parent, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def die_with_parent() -> None:
    """``preexec_fn``: SIGKILL this child when the process that started it dies (Linux ``PR_SET_PDEATHSIG``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def holds_port(pid: int, port: int | None) -> bool:
    """Whether a process of ``pid``'s group (the service started with its own session) listens on ``port``
    (True for a service without a port)."""
    if port is None:
        return True
    return any(process_group(holder) == pid for holder in listeners(port))


class PortTaken(RuntimeError):
    """A stack port held by a process that is not the stack's: the message names it."""


def clear_port(name: str, port: int | None, state_dir: Path) -> None:
    """Before ``name`` starts: a stale process of this stack on its port is ended (its group); another
    process there is refused with its pid and command line, so ``up`` never takes it for the service."""
    if port is None:
        return
    for holder in listeners(port):
        if belongs_to(holder, state_dir):
            group = process_group(holder)
            log.warning("%s: ending a stale process of this stack on port %d: pid %d (%s)", name, port, holder,
                        " ".join(command_line(holder))[:200])
            if group is not None and group != os.getpgid(0):
                with contextlib.suppress(OSError):
                    os.killpg(group, signal.SIGKILL)
            end([holder], timeout=5)
        else:
            raise PortTaken(f"{name}: port {port} is held by pid {holder} ({' '.join(command_line(holder))[:200]}"
                            f"), which is not this stack's; stop it, or give the stack other ports")
    deadline = time.monotonic() + 10
    while listeners(port) and time.monotonic() < deadline:
        time.sleep(0.1)


def end_writer(pid_file: Path, timeout: float = 5) -> None:
    """End a service's log writer: it exits by itself at end of input once the service has; wait for that
    (its last lines reach the log), then SIGKILL it."""
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + timeout
    while alive(pid) and belongs_to_writer(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid) and belongs_to_writer(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def belongs_to_writer(pid: int) -> bool:
    """The pid is still a log writer (not a reused pid of something else)."""
    return "factory.logrotate" in command_line(pid)
