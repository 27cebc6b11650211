"""The pieces a local stack is made of: a supervised service, its readiness checks, and the local fleet's
devices (``up --fleet N``) with the reporter image the fleet hub publishes."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from factory.adapters.local.host import free_port


@dataclass
class Service:
    """A background process of the stack: how to start it, when it is ready, and the port it must hold."""

    name: str
    argv: list[str]
    ready: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    port: int | None = None  # the loopback port it listens on (readiness checks this service holds it)
    start_timeout: float = 120


@dataclass(frozen=True)
class FleetDeviceSpec:
    """One device of the local fleet (``up --fleet N``): an edge simulator of that architecture on that port."""

    id: str
    arch: str
    port: int


def fleet_devices(count: int, arm64: int | None = None) -> list[FleetDeviceSpec]:
    """``count`` devices, ``arm64`` of them arm64 (default: one when ``count`` >= 2, none for one device), the rest
    amd64: ``fleet-amd64-1``, ..., ``fleet-arm64-1``, ... (stable ids: their ring buckets are stable too), each on a
    free loopback port."""
    arm = (1 if count >= 2 else 0) if arm64 is None else arm64
    if count < 0 or not 0 <= arm <= count:
        raise ValueError(f"a fleet of {count} devices cannot have {arm} arm64 devices")
    amd = count - arm
    return [FleetDeviceSpec(f"fleet-{arch}-{i}", arch, free_port())
            for arch, n in (("amd64", amd), ("arm64", arm)) for i in range(1, n + 1)]


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status < 500
        except OSError as exc:
            return getattr(exc, "code", 500) < 500
    return check


def port_open(port: int) -> Callable[[], bool]:
    def check() -> bool:
        with socket.socket() as sock:
            sock.settimeout(1)
            return sock.connect_ex(("127.0.0.1", port)) == 0
    return check


def fleet_reporter_env(state_dir: Path) -> dict[str, str]:
    """``FACTORY_FLEET_REPORTER_IMAGE``: the reporter index the fleet hub pushed and signed (its ``hub.json``),
    so the rollout's layers carry the reporter as on Azure; nothing before the hub's first start (the hub then
    adds the reporter itself). The hub starts before devhost (``LocalStack.services``)."""
    try:
        reporter = json.loads((state_dir / "fleet" / "hub.json").read_text()).get("reporter")
    except (OSError, ValueError):
        return {}
    return {"FACTORY_FLEET_REPORTER_IMAGE": reporter} if isinstance(reporter, str) and reporter else {}
