"""The pool of edge test devices: one per architecture an image targets, each smoke-tested in parallel under
its own lease.

``FACTORY_EDGE_DEVICES`` lists them, comma-separated, as ``name=arch`` (IoT Hub: the device id; give each
device the twin tags ``role: smoke-test`` and ``arch: <arch>``) or ``name=arch@url`` (the local edge
simulator serving that device, which runs the image's ``arch`` variant, under qemu emulation when it is not
the host's). Unset: the single device of ``FACTORY_EDGE_SIM_URL`` / ``IOTHUB_EDGE_DEVICE_ID`` (name ``""``,
taken to run every architecture).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from factory.settings import Settings

_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)=(?P<arch>amd64|arm64)(?:@(?P<url>https?://\S+))?$")


class PoolError(ValueError):
    """``FACTORY_EDGE_DEVICES`` is malformed; the message names the entry."""


@dataclass(frozen=True)
class Device:
    name: str
    arch: str  # "" for the single default device: it takes any architecture
    url: str = ""


def devices(settings: Settings) -> list[Device]:
    """The configured devices (see the module docstring)."""
    raw = settings.env("FACTORY_EDGE_DEVICES", "").strip()
    if not raw:
        return [Device("", "")]
    found: list[Device] = []
    for entry in (e.strip() for e in raw.split(",") if e.strip()):
        match = _ENTRY.match(entry)
        if not match:
            raise PoolError(f"FACTORY_EDGE_DEVICES entry {entry!r}: expected name=amd64|arm64[@http://host:port]")
        found.append(Device(match["name"], match["arch"], match["url"] or ""))
    return found


def for_architectures(pool: list[Device], arches: list[str]) -> tuple[list[Device], list[str]]:
    """One device per architecture (the first of each), and the architectures no device covers."""
    if pool == [Device("", "")]:
        return pool, []
    chosen: list[Device] = []
    missing: list[str] = []
    for arch in arches:
        device = next((d for d in pool if d.arch == arch), None)
        if device is None:
            missing.append(arch)
        else:
            chosen.append(device)
    return chosen, missing


def image_architectures(image: str) -> list[str]:
    """The architectures of an image (index) in a registry; ``[]`` when its manifests cannot be read here."""
    from factory.packaging.layers import read_image

    try:
        return sorted(read_image(image))
    except (LookupError, OSError, ValueError) as exc:
        del exc
        return []


def plan(settings: Settings, image: str) -> dict[str, Any]:
    """``{"devices": [{"device", "arch"}], "missing": [arch], "arches": [arch]}`` for the ``edge_devices``
    activity: the devices to smoke-test ``image`` on."""
    pool = devices(settings)
    arches = image_architectures(image) or sorted({d.arch for d in pool if d.arch}) or [""]
    chosen, missing = for_architectures(pool, arches)
    return {"devices": [{"device": d.name, "arch": d.arch} for d in chosen], "missing": missing, "arches": arches}
