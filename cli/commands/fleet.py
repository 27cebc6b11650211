"""``model-factory fleet [--json]``: every device of the local fleet (``<state-dir>/fleet/fleet.json``): ring
bucket, architecture, connection, and per model module the desired and reported version, status and health."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cli.table import table
from factory.adapters.local.fleet_store import LocalFleet

DEFAULT_STATE = Path(".factory")


def cmd_fleet(args: argparse.Namespace) -> int:
    devices = LocalFleet(Path(args.state_dir).resolve() / "fleet" / "fleet.json").devices()
    if args.json:
        print(json.dumps(devices, indent=2))
        return 0
    rows = [[d["device"], d["arch"], "" if d["bucket"] is None else str(d["bucket"]),
             "yes" if d["connected"] else "no", module, m["desired"], m["reported"], m["status"], m["health"]]
            for d in devices for module, m in (d["modules"].items() or [("", {"desired": "", "reported": "",
                                                                               "status": "", "health": ""})])]
    print(table(["device", "arch", "bucket", "online", "module", "desired", "reported", "status", "health"], rows)
          if rows else "the local fleet has no devices")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("fleet", help="the local fleet's devices and what they run",
                                   description="the local fleet's devices and what they run")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    parser.add_argument("--state-dir", default=str(DEFAULT_STATE), help="local stack state (default .factory)")
    parser.set_defaults(func=cmd_fleet)
