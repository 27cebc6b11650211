# pyright: strict
"""A simulated IoT Edge runtime for ``SimulatedFleet`` devices without containers (the bench's 10,000 devices,
the controller's tests): it reads the model module's desired image and version from the merged deployment and
reports what a device would, as a behaviour says: edgeAgent's ``runtimeStatus`` of the module, and the module's
``factory`` section (version, health, signals per version; the signals of earlier versions stay, as the reported
properties of a module twin do across image updates)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from contract import VersionSignals
from factory.adapters.local.fleet import merge_patch


@dataclass(frozen=True)
class Outcome:
    """What a version does on one device: the module's state, its health verdict and the signals it reports
    (None: it reports nothing, e.g. it crashes before serving)."""

    status: str = "running"
    signals: VersionSignals | None = None
    health: str = "ok"


Behaviour = Callable[[str, str, str], Outcome]  # (device, arch, version) -> what happens


class SimulatedRuntime:
    """Runs ``module`` on each device as ``behaviour`` says (see the module docstring)."""

    def __init__(self, module: str, behaviour: Behaviour) -> None:
        self.module, self.behaviour = module, behaviour
        self.applies = 0

    def apply(self, device: str, arch: str, desired: dict[str, dict[str, Any]],
              reported: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        self.applies += 1
        modules = cast(dict[str, Any], desired.get("$edgeAgent", {}).get("modules", {}))
        spec = cast(dict[str, Any], modules.get(self.module) or {})
        agent: dict[str, Any] = {"modules": {}}
        result = dict(reported)
        if spec:
            version = str(spec.get("version", ""))
            outcome = self.behaviour(device, arch, version)
            agent["modules"][self.module] = {"runtimeStatus": outcome.status, "version": version,
                                             "image": cast(dict[str, Any], spec.get("settings", {})).get("image")}
            if outcome.status == "running":
                factory: dict[str, Any] = {"version": version, "health": outcome.health}
                if outcome.signals is not None:
                    factory["signals"] = {version: outcome.signals.to_dict()}
                result[self.module] = merge_patch(result.get(self.module, {}), {"factory": factory})
        result["$edgeAgent"] = agent
        return result
