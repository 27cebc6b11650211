# pyright: strict
"""``rollout:`` in ``model.yaml``: the fleet (an IoT Hub target condition over device twin tags), the rings and
the abort bounds; and the stable ring bucket of a device.

Rings are cumulative shares of the fleet: ``percent`` 10, 50, 100 put buckets 0-9 in the first ring, 10-49 in
the second and 50-99 in the third. A device's bucket (0-99) is a hash of its id, written once as the twin tag
``factoryRolloutBucket``, so a device stays in its ring across versions. Each ring's IoT Hub configuration
targets ``(<fleet>) AND tags.factoryRolloutBucket >= lo AND tags.factoryRolloutBucket < hi``: the rings of a
version never overlap, so no device is targeted by two configurations of one priority.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, cast

from factory.fields import Fields, is_number

BUCKET_TAG = "factoryRolloutBucket"
BUCKETS = 100
_RING_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
# what an IoT Hub target condition may hold (no newlines, no quotes other than '...', bounded)
_CONDITION = re.compile(r"^[A-Za-z0-9_.$' =<>!(),-]{1,512}$")


@dataclass(frozen=True)
class Ring:
    """One ring: the cumulative ``percent`` of the fleet it reaches, the devices that must be applied and
    reporting before its gate can pass (0: a ring that happens to hold no device passes on), and how long it
    bakes before the gate reads the signals."""

    name: str
    percent: int
    min_devices: int = 0
    bake_minutes: float = 0.0


@dataclass(frozen=True)
class AbortBounds:
    """The gate's bounds. Fractions: 0.2 = 20 % of the ring's devices failed; 0.02 = 2 % of requests were
    errors; 0.5 = p95 latency 50 % above the previous version's on the same devices; the prediction shift is a
    population stability index (0.1 small, 0.25 large)."""

    max_failed_percent: float = 20.0
    max_error_rate: float = 0.02
    max_p95_regression: float = 0.5
    max_prediction_shift: float = 0.25


@dataclass(frozen=True)
class RolloutSpec:
    """A model's rollout: its fleet, rings (in order) and abort bounds."""

    fleet: str
    rings: tuple[Ring, ...]
    abort: AbortBounds = AbortBounds()

    def buckets(self, index: int) -> tuple[int, int]:
        """The half-open bucket range ``[lo, hi)`` of ring ``index``."""
        lo = self.rings[index - 1].percent if index else 0
        return lo, self.rings[index].percent

    def target_condition(self, index: int) -> str:
        """The IoT Hub target condition of ring ``index``: the fleet AND the ring's buckets."""
        return ring_condition(self.fleet, *self.buckets(index))


def summary(spec: RolloutSpec) -> str:
    """One line for people: ``fleet tags.site = 'a': canary 10 % (at least 1 device, bakes 2 min), all 100 %``."""
    rings: list[str] = []
    for ring in spec.rings:
        extra = [f"at least {ring.min_devices} device{'s' * (ring.min_devices != 1)}"] * bool(ring.min_devices)
        extra += [f"bakes {ring.bake_minutes:g} min"] * bool(ring.bake_minutes)
        rings.append(f"{ring.name} {ring.percent} %" + (f" ({', '.join(extra)})" if extra else ""))
    return f"fleet {spec.fleet}: " + ", ".join(rings)


def ring_condition(fleet: str, lo: int, hi: int) -> str:
    return f"({fleet}) AND tags.{BUCKET_TAG} >= {lo} AND tags.{BUCKET_TAG} < {hi}"


def bucket(device_id: str) -> int:
    """The device's stable ring bucket, 0-99 (SHA-256 of the id: the same on every host and Python)."""
    return int.from_bytes(hashlib.sha256(device_id.encode()).digest()[:8], "big") % BUCKETS


def parse_rollout(f: Fields) -> RolloutSpec:
    """The ``rollout:`` section; a bad field raises ``CatalogError`` naming the file and the field."""
    f.unknown({"fleet", "rings", "abort"})
    fleet = f.get("fleet", "an IoT Hub target condition over device twin tags, e.g. tags.site = 'plant-a'", ...,
                  lambda v: isinstance(v, str) and _CONDITION.match(v) is not None and "tags." in v
                  and v.count("'") % 2 == 0)
    raw_rings = f.get("rings", "a list of rings, e.g. [{name: canary, percent: 10}, {name: all, percent: 100}]",
                      ..., lambda v: isinstance(v, list) and len(cast(list[Any], v)) > 0)
    rings: list[Ring] = []
    for i, raw in enumerate(cast(list[Any], raw_rings)):
        rings.append(_ring(Fields(f.file, raw, f.key(f"rings[{i}]")), rings))
    if rings[-1].percent != BUCKETS:
        f.fail(f.key(f"rings[{len(rings) - 1}].percent"), "100 in the last ring (the whole fleet)", rings[-1].percent)
    abort = f.section("abort", {})
    abort.unknown({"max_failed_percent", "max_error_rate", "max_p95_regression", "max_prediction_shift"})
    defaults = AbortBounds()
    return RolloutSpec(fleet=fleet, rings=tuple(rings), abort=AbortBounds(
        max_failed_percent=_bounded(abort, "max_failed_percent", defaults.max_failed_percent, 100,
                                    "a percentage between 0 and 100"),
        max_error_rate=_bounded(abort, "max_error_rate", defaults.max_error_rate, 1, "a fraction between 0 and 1"),
        max_p95_regression=_bounded(abort, "max_p95_regression", defaults.max_p95_regression, None,
                                    "a fraction of at least 0 (0.5 = 50 % slower)"),
        max_prediction_shift=_bounded(abort, "max_prediction_shift", defaults.max_prediction_shift, None,
                                      "a population stability index of at least 0 (0.25 = a large shift)")))


def _ring(f: Fields, before: list[Ring]) -> Ring:
    f.unknown({"name", "percent", "min_devices", "bake_minutes"})
    name = f.get("name", "a ring name (lower-case letters, digits, -; at most 20)", ...,
                 lambda v: isinstance(v, str) and _RING_NAME.match(v) is not None)
    if any(r.name == name for r in before):
        f.fail(f.key("name"), "a name no other ring has", name)
    floor = before[-1].percent if before else 0
    percent = f.get("percent", f"an integer above the previous ring's {floor} and at most 100", ...,
                    lambda v: isinstance(v, int) and not isinstance(v, bool) and floor < v <= BUCKETS)
    bake = f.get("bake_minutes", "a number of minutes of at least 0", 0, lambda v: is_number(v) and v >= 0)
    min_devices = f.get("min_devices", "an integer of at least 0", 0,
                        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0)
    return Ring(name=name, percent=percent, min_devices=min_devices, bake_minutes=float(bake))


def _bounded(f: Fields, key: str, default: float, top: float | None, expected: str) -> float:
    value = f.get(key, expected, default, lambda v: is_number(v) and v >= 0 and (top is None or v <= top))
    return float(value)
