# pyright: strict
"""What people see of the fleet, read through the ``Fleet`` port: every device with the ring it falls in for each
model's rollout (the fleet page, ``model-factory fleet``), how many devices run each version of a model (the model
page), and how many devices each ring of a declared rollout would reach now (the approval card)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace

from contract import DeviceReport, FleetDevice
from factory.model_spec import ModelSpec
from factory.rollout.fleet import Fleet
from factory.rollout.spec import RolloutSpec, bucket


@dataclass(frozen=True)
class RingSize:
    """One ring of a declared rollout: its cumulative share of the fleet and the devices in its buckets now."""

    name: str
    percent: int
    devices: int


def ring_of(spec: RolloutSpec, device_bucket: int) -> str:
    """The ring whose buckets hold ``device_bucket`` (``""`` for an untagged device, bucket -1)."""
    for i, ring in enumerate(spec.rings):
        lo, hi = spec.buckets(i)
        if lo <= device_bucket < hi:
            return ring.name
    return ""


def with_rings(devices: list[FleetDevice], specs: Mapping[str, RolloutSpec]) -> list[FleetDevice]:
    """Each module of each device with its ring in the rollout of the model it serves (``specs``: model ->
    ``rollout:``; a model without one leaves the ring empty)."""
    out: list[FleetDevice] = []
    for device in devices:
        modules = [replace(m, ring=ring_of(specs[m.model], device.bucket)) if m.model in specs else m
                   for m in device.modules]
        out.append(replace(device, modules=modules))
    return out


def version_counts(reports: list[DeviceReport]) -> dict[str, int]:
    """Reported version -> devices whose model module reports running it, highest count first (a device that
    reports no version yet counts under ``""``)."""
    return dict(Counter(r.version for r in reports).most_common())


def ring_sizes(spec: RolloutSpec, reports: list[DeviceReport]) -> list[RingSize]:
    """Devices per ring among ``reports`` (the fleet condition's devices); a device not tagged yet is counted in
    the bucket the rollout will give it (the same hash)."""
    buckets = [r.bucket if r.bucket >= 0 else bucket(r.device) for r in reports]
    sizes: list[RingSize] = []
    for i, ring in enumerate(spec.rings):
        lo, hi = spec.buckets(i)
        sizes.append(RingSize(ring.name, ring.percent, sum(1 for b in buckets if lo <= b < hi)))
    return sizes


def fleet_inventory(fleet: Fleet, specs: Mapping[str, RolloutSpec]) -> list[FleetDevice]:
    """Every device of ``fleet`` with its rings (see ``with_rings``)."""
    return with_rings(fleet.inventory(), specs)


def rollout_specs(catalog: Mapping[str, ModelSpec]) -> dict[str, RolloutSpec]:
    """Model -> its ``rollout:``, for the catalog's models that declare one."""
    return {name: spec.rollout for name, spec in catalog.items() if spec.rollout is not None}
