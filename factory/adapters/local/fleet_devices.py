# pyright: strict
"""The devices of a ``LocalFleet`` run without containers: what the fleet hub (``localstack/fleet_hub.py``) does
for edge simulators, done here by a ``DeviceRuntime`` (``fleet_runtime.SimulatedRuntime``) in the caller's
process, so the fleet's state lives in its file and outlasts any Functions host.

Each ``step`` every connected device of the fleet file takes its merged desired content from the
configurations (targets, priorities, layers); when that changed since the device last applied it, the runtime
applies it and the device reports what the runtime says (``LocalFleet.update``: edgeAgent's view replaced, the
modules' sections merged). ``applied`` logs each apply as ``(device, the module's desired version)``, so a test
sees how often a version's content reached a device. Used by tests (a devhost killed mid-rollout); nothing in
the product runs it.
"""

from __future__ import annotations

import threading
from typing import Any

from factory.adapters.local.fleet import DeviceRuntime
from factory.adapters.local.fleet_store import LocalFleet
from factory.fields import as_dict


class SimulatedDevices:
    """The fleet file's devices, each applying its merged desired content through ``runtime``."""

    def __init__(self, fleet: LocalFleet, runtime: DeviceRuntime, module: str) -> None:
        self.fleet, self.runtime, self.module = fleet, runtime, module
        self.seen: dict[str, dict[str, dict[str, Any]]] = {}  # device -> the desired content it last applied
        self.applied: list[tuple[str, str]] = []  # (device, version of ``module``; "" = not deployed), each apply

    def step(self) -> int:
        """One pass over the devices; returns how many applied new content."""
        count = 0
        for twin in self.fleet.twins():
            if not twin.connected or self.seen.get(twin.device_id) == twin.desired:
                continue
            reported = self.runtime.apply(twin.device_id, twin.arch, twin.desired, twin.reported)
            self.fleet.update(twin.device_id, True, reported, replace=("$edgeAgent",))
            self.seen[twin.device_id] = twin.desired
            modules = as_dict(as_dict(twin.desired.get("$edgeAgent")).get("modules"))
            self.applied.append((twin.device_id, str(as_dict(modules.get(self.module)).get("version", ""))))
            count += 1
        return count

    def run(self, stop: threading.Event, interval: float) -> None:
        """``step`` every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            self.step()
            stop.wait(interval)
