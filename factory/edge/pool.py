"""The pool of edge test devices: one per architecture an image targets, each smoke-tested in parallel under
its own lease.

``FACTORY_EDGE_DEVICES`` lists them, comma-separated, as ``name=arch`` (IoT Hub: the device id; give each
device the twin tags ``role: smoke-test`` and ``arch: <arch>``) or ``name=arch@url`` (the local edge
simulator serving that device, which runs the image's ``arch`` variant, under qemu emulation when it is not
the host's). Unset: the single device of ``FACTORY_EDGE_SIM_URL`` / ``IOTHUB_EDGE_DEVICE_ID`` (name ``""``,
taken to run every architecture).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from contract import EdgeDevice, EdgeLease, EdgePlan
from factory.settings import Settings

if TYPE_CHECKING:
    from factory.packaging.layers import Manifests

_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)=(?P<arch>amd64|arm64)(?:@(?P<url>https?://\S+))?$")


WAITER_STALE_S = 180.0  # a run waiting for a device that has not asked again for this long leaves its queue
MAX_WAITERS = 32  # a device's queue holds at most this many runs (IoT Hub keeps a twin's tags under 8 KB)


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


def image_architectures(image: str, manifests: Manifests) -> list[str]:
    """The architectures of an image (index) in a registry; ``[]`` when its manifests cannot be read here."""
    from factory.packaging.layers import read_image

    try:
        return sorted(read_image(image, manifests))
    except (LookupError, OSError, ValueError) as exc:
        del exc
        return []


def plan(settings: Settings, image: str, manifests: Manifests,
         signature: Callable[[str], str] | None = None) -> EdgePlan:
    """The ``edge_devices`` activity's answer: the devices to smoke-test ``image`` on (one per architecture it
    has, read through ``manifests``), the architectures no device covers, and all of them. None, ``refused``
    with the reason, when ``signature(image)`` (the factory's signature check) says why the image may not be
    put on any device."""
    why = signature(image) if signature is not None else ""
    if why:
        return EdgePlan(refused=f"not targeting a device: {why}")
    pool = devices(settings)
    arches = image_architectures(image, manifests) or sorted({d.arch for d in pool if d.arch}) or [""]
    chosen, missing = for_architectures(pool, arches)
    return EdgePlan(devices=[EdgeDevice(d.name, d.arch) for d in chosen], missing=missing, arches=arches)


@dataclass(frozen=True)
class Waiter:
    holder: str
    first: str  # ISO time it first asked
    last: str  # ISO time it last asked


@dataclass(frozen=True)
class LeaseState:
    """One device's lease and its queue of waiting runs (oldest first)."""

    holder: str = ""
    expires_at: str = ""
    queue: tuple[Waiter, ...] = ()


def fair_lease(state: LeaseState, holder: str, ttl_seconds: float,
               now: dt.datetime) -> tuple[LeaseState, EdgeLease]:
    """Take or renew ``holder``'s lease unless another holder's lease is valid; runs waiting for the device get
    it in the order they first asked (none starves); a waiter silent for ``WAITER_STALE_S`` leaves the queue,
    and at most ``MAX_WAITERS`` wait. Returns the new state and the answer. The one rule of every device: the
    IoT Hub adapter keeps the state in the twin's tags, the local simulator in its own state."""
    if not holder:
        raise ValueError("a lease needs a holder (the run id)")
    stamp = now.isoformat()
    valid = bool(state.expires_at) and dt.datetime.fromisoformat(state.expires_at) > now
    mine = valid and state.holder == holder
    fresh = now - dt.timedelta(seconds=WAITER_STALE_S)
    queue = [w for w in state.queue if dt.datetime.fromisoformat(w.last) > fresh]
    if not mine:
        known = next((w for w in queue if w.holder == holder), None)
        if known is None and len(queue) >= MAX_WAITERS:
            return replace_queue(state, queue), EdgeLease(False, state.holder if valid else "",
                                                          state.expires_at if valid else "",
                                                          [w.holder for w in queue],
                                                          f"{MAX_WAITERS} runs are already waiting")
        queue = [Waiter(holder, known.first if known else stamp, stamp) if w is known else w for w in queue]
        if known is None:
            queue.append(Waiter(holder, stamp, stamp))
        queue.sort(key=lambda w: w.first)
    names = [w.holder for w in queue]
    if valid and not mine:
        return replace_queue(state, queue), EdgeLease(False, state.holder, state.expires_at, names)
    if names and names[0] != holder and not mine:
        return LeaseState(queue=tuple(queue)), EdgeLease(False, "", "", names, f"run {names[0]} asked first")
    rest = tuple(w for w in queue if w.holder != holder)
    new = LeaseState(holder, (now + dt.timedelta(seconds=ttl_seconds)).isoformat(), rest)
    return new, EdgeLease(True, holder, new.expires_at)


def replace_queue(state: LeaseState, queue: list[Waiter]) -> LeaseState:
    return LeaseState(state.holder, state.expires_at, tuple(queue))


def released(state: LeaseState, holder: str) -> LeaseState:
    """The state after ``holder`` gave the device back (unchanged when it does not hold it); the queue stays."""
    return LeaseState(queue=state.queue) if state.holder == holder else state
