"""``model-factory fleet [--json]``: every device of the local fleet (``<state-dir>/fleet/fleet.json``) as the
dashboard's fleet page shows it (``Fleet.inventory`` with each model's rings): ring bucket, architecture,
connection, last report, and per model module its ring, the desired and reported version, status and health."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cli.table import table
from contract import FleetDevice
from factory.adapters.local.fleet_store import LocalFleet
from factory.catalog import CatalogError, scan_catalog
from factory.rollout.inventory import fleet_inventory, rollout_specs

DEFAULT_STATE = Path(".factory")


def _rows(d: FleetDevice) -> list[list[str]]:
    head = [d.device, d.arch, "" if d.bucket < 0 else str(d.bucket), "yes" if d.connected else "no", d.last_report]
    return [head + [m.module, m.ring, m.desired, m.reported, m.status, m.health] for m in d.modules] or [
        head + [""] * 6]


def cmd_fleet(args: argparse.Namespace) -> int:
    try:
        specs = rollout_specs(scan_catalog(args.models_dir)[0])
    except CatalogError:  # no models folder here: the rings stay empty, the devices still show
        specs = {}
    devices = fleet_inventory(LocalFleet(Path(args.state_dir).resolve() / "fleet" / "fleet.json"), specs)
    if args.json:
        print(json.dumps([d.to_dict() for d in devices], indent=2))
        return 0
    rows = [row for d in devices for row in _rows(d)]
    print(table(["device", "arch", "bucket", "online", "last report", "module", "ring", "desired", "reported",
                 "status", "health"], rows) if rows else "the local fleet has no devices")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("fleet", help="the local fleet's devices and what they run",
                                   description="the local fleet's devices and what they run")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    parser.add_argument("--state-dir", default=str(DEFAULT_STATE), help="local stack state (default .factory)")
    parser.add_argument("--models-dir", type=Path, default=Path("models"),
                        help="the models folder, for each model's rings (default models)")
    parser.set_defaults(func=cmd_fleet)
