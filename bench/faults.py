"""SIGKILL each local service's wrapper process on a running local stack, then `up`, then `down`: what is left.

For every service of the stack (started with free ports in a temp state folder): the wrapper alone gets
SIGKILL (as a crash would), then which of its group's processes outlived it (an orphan could keep the port),
whether `up` brought the service back as this start's process (the port held by the new group), how long
that took, and after `down` how many processes of the stack are left. Prints a table and writes
bench/results/faults.json.

    .venv/bin/python bench/faults.py [--services dev-registry,devhost]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cli.table import table  # noqa: E402
from localstack import supervision  # noqa: E402
from localstack.stack import LocalStack, StackPorts  # noqa: E402


def _group(pid: int) -> list[int]:
    return [p for p in map(int, filter(str.isdigit, os.listdir("/proc"))) if supervision.process_group(p) == pid]


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _answers(stack: LocalStack, service) -> bool:
    """This start's process answers (on a stack without that check: the readiness probe, whoever answers)."""
    check = getattr(stack, "answers", None)
    return bool(check(service)) if check else bool(stack.pid(service.name) and service.ready())


def measure(stack: LocalStack, name: str) -> dict[str, object]:
    service = next(s for s in stack.services() if s.name == name)
    stack.up()
    old = stack.pid(name)
    assert old is not None and _answers(stack, service), f"{name} is not up"
    members = [p for p in _group(old) if p != old]
    os.kill(old, signal.SIGKILL)
    time.sleep(2)
    _reap()
    orphans = [p for p in members if supervision.alive(p)]
    port = getattr(service, "port", None)
    held_by_orphan = bool(port and supervision.listeners(port) & set(orphans))
    started = time.monotonic()
    stack.up()
    seconds = time.monotonic() - started
    new = stack.pid(name)
    return {"service": name, "children": len(members), "orphans_after_kill": len(orphans),
            "port_held_by_orphan": held_by_orphan, "up_brought_back_new": bool(new and new != old
                                                                              and _answers(stack, service)),
            "up_seconds": round(seconds, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", default="", help="comma-separated (default: every service)")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        stack = LocalStack(Path(tmp) / "state", StackPorts.free())
        names = [n for n in args.services.split(",") if n] or [s.name for s in stack.services()]
        try:
            for name in names:
                rows.append(measure(stack, name))
        finally:
            stack.down()
            _reap()
            left = supervision.stack_processes(stack.state_dir)
    for row in rows:
        row["left_after_down"] = len(left)
    head = ["service", "children", "orphans after SIGKILL", "port held by orphan", "up: this start's", "up s",
            "left after down"]
    print(table(head, [[str(r[k]) for k in ("service", "children", "orphans_after_kill", "port_held_by_orphan",
                                            "up_brought_back_new", "up_seconds", "left_after_down")] for r in rows]))
    out = REPO / "bench" / "results" / "faults.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "left_after_down": left}, indent=2))
    return 0 if not left and all(r["up_brought_back_new"] and not r["orphans_after_kill"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
