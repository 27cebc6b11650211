# pyright: strict
"""``Fleet`` for the local backend: a ``SimulatedFleet`` kept in ``<state_dir>/fleet/fleet.json`` (0600), read
and written under a file lock by each call, so every activity process sees the same hub.

Its devices are the ones registered in that file (``register``); what they report comes from their own runtime
(``report``: the local fleet's devices write their module twins' reported properties through it). A device
nobody runs reports nothing, so a ring of such devices never passes a gate with ``min_devices`` above 0: the
local fleet claims nothing it did not measure.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import fcntl
import json
import os
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from contract import DeviceReport, FleetDevice
from factory.adapters.local.fleet import SimDevice, SimulatedFleet, iso_time, merge_patch
from factory.rollout.fleet import Fleet, LayeredDeployment

HISTORY_KEPT = 1000  # the configuration changes the file keeps (the newest)


class ReportedOnly:
    """The runtime of a device whose reported properties arrive from outside (``LocalFleet.report``)."""

    def apply(self, device: str, arch: str, desired: dict[str, dict[str, Any]],
              reported: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return reported


class LocalFleet:
    """The persisted simulated hub (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def from_settings(cls, settings: Any) -> LocalFleet:
        return cls(Path(settings.state_dir) / "fleet" / "fleet.json")

    @contextlib.contextmanager
    def _hub(self, write: bool) -> Generator[SimulatedFleet]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            hub = SimulatedFleet(ReportedOnly())
            if self.path.exists():
                state = json.loads(self.path.read_text())
                for raw in state.get("devices", []):
                    device = SimDevice(raw["device_id"], raw["arch"], raw["tags"], raw["connected"], raw["base"],
                                       raw["desired"], raw["reported"], set(raw["winners"]),
                                       str(raw.get("last_report", "")))
                    hub.devices[device.device_id] = device
                for order, raw in state.get("configurations", []):
                    hub.configurations[raw["id"]] = (order, LayeredDeployment.from_dict(raw))
                hub.history = [(str(change), str(config)) for change, config in state.get("history", [])]
            yield hub
            if write:
                devices = [{**vars(d), "winners": sorted(d.winners)} for d in hub.devices.values()]
                configurations = [[order, c.to_dict()] for order, c in hub.configurations.values()]
                temp = self.path.with_suffix(".tmp")
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as out:
                    json.dump({"devices": devices, "configurations": configurations,
                               "history": hub.history[-HISTORY_KEPT:]}, out)
                temp.replace(self.path)

    def register(self, device_id: str, arch: str, tags: dict[str, Any]) -> None:
        """Add a device (or update its tags) in the local hub."""
        with self._hub(write=True) as hub:
            if device_id in hub.devices:
                hub.devices[device_id].tags = merge_patch(hub.devices[device_id].tags, tags)
            else:
                hub.add_device(device_id, arch, tags)

    def report(self, device_id: str, module: str, patch: dict[str, Any], connected: bool = True) -> None:
        """A device's runtime writes a module twin's reported properties (merge patch)."""
        with self._hub(write=True) as hub:
            device = hub.devices[device_id]
            device.connected = connected
            device.reported[module] = merge_patch(device.reported.get(module, {}), patch)
            device.last_report = iso_time(time.time())

    def update(self, device_id: str, connected: bool, reported: dict[str, dict[str, Any]],
               replace: tuple[str, ...] = ()) -> None:
        """A device's runtime reports in one write: its connection, and per module a reported-properties merge
        patch (the modules in ``replace`` are replaced instead: edgeAgent's view of what runs now)."""
        with self._hub(write=True) as hub:
            device = hub.devices[device_id]
            device.connected = connected
            for module, patch in reported.items():
                device.reported[module] = dict(patch) if module in replace else merge_patch(
                    device.reported.get(module, {}), patch)
            if connected and reported:
                device.last_report = iso_time(time.time())

    def merged(self, device_id: str) -> dict[str, dict[str, Any]]:
        """The device's merged desired properties per module, computed without writing the hub (what the local
        fleet hub polls every few seconds)."""
        with self._hub(write=False) as hub:
            return hub.merged(device_id)

    def twins(self) -> list[SimDevice]:
        """Every device as the hub holds it, its ``desired`` the merged content of the configurations now (copies,
        for a device runtime; nothing is written)."""
        with self._hub(write=False) as hub:
            return [dataclasses.replace(copy.deepcopy(d), desired=hub.merged(d.device_id))
                    for d in hub.devices.values()]

    def history(self) -> list[tuple[str, str]]:
        """The configurations the hub created and deleted, oldest first (``SimulatedFleet.history``; the newest
        ``HISTORY_KEPT``)."""
        with self._hub(write=False) as hub:
            return list(hub.history)

    def desired(self, device_id: str) -> dict[str, dict[str, Any]]:
        """The device's merged desired properties per module (what its runtime should run)."""
        with self._hub(write=True) as hub:
            hub.sync()
            return hub.devices[device_id].desired

    def deployments(self, model: str) -> list[LayeredDeployment]:
        with self._hub(write=False) as hub:
            return hub.deployments(model)

    def create_deployment(self, deployment: LayeredDeployment) -> None:
        with self._hub(write=True) as hub:
            hub.create_deployment(deployment)

    def delete_deployment(self, deployment_id: str) -> None:
        with self._hub(write=True) as hub:
            hub.delete_deployment(deployment_id)

    def deployment_metrics(self, deployment_id: str) -> dict[str, int]:
        with self._hub(write=True) as hub:
            return hub.deployment_metrics(deployment_id)

    def untagged_devices(self, condition: str, tag: str) -> list[str]:
        with self._hub(write=False) as hub:
            return hub.untagged_devices(condition, tag)

    def tag_devices(self, tags: dict[str, dict[str, Any]]) -> None:
        with self._hub(write=True) as hub:
            hub.tag_devices(tags)

    def device_reports(self, condition: str, module: str) -> list[DeviceReport]:
        with self._hub(write=True) as hub:
            return hub.device_reports(condition, module)

    def inventory(self) -> list[FleetDevice]:
        with self._hub(write=False) as hub:  # a read for people: the merged desired state is not written back
            return hub.inventory()


# pyright checks each adapter against its port here (a missing or mistyped method fails `make test`)
_LocalFleet: type[Fleet] = LocalFleet
