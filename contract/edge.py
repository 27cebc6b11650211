"""The edge smoke test: its verdict, per device and combined over a run's devices, and its stage's activity
payloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from contract.record import Record


class EdgeStatus(StrEnum):
    """An edge smoke test's verdict: the smoke module's pass or fail, or no report in time."""

    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "fail"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class EdgeDevice(Record):
    """A pool test device and the architecture it runs (``device`` "": the default single device)."""

    device: str = ""
    arch: str = ""


@dataclass(frozen=True)
class DeviceVerdict(Record):
    """One device's part of a run's smoke test: which device, its architecture, and what it measured.
    ``requests`` is the requests scored (each case ``repeat`` times), ``cases`` the cases."""

    device: str = ""
    arch: str = ""
    status: EdgeStatus = EdgeStatus.FAIL
    cases: int = 0
    requests: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    bytes_pulled: int = 0
    reason: str = ""


@dataclass(frozen=True)
class SmokeVerdict(Record):
    """What the edge smoke-test module reported for one run (combined over its devices: ``devices``)."""

    run_id: str = ""
    status: EdgeStatus = EdgeStatus.FAIL
    cases: int = 0
    failures: list[str] = field(default_factory=list[str])
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    reason: str = ""
    bytes_pulled: int = 0  # what the device downloaded for the model image (its layers it did not have)
    devices: list[DeviceVerdict] = field(default_factory=list[DeviceVerdict])
    requests: int = 0  # the requests scored: cases x repeat


def combine_verdicts(run_id: str, devices: list[EdgeDevice], verdicts: list[SmokeVerdict]) -> SmokeVerdict:
    """One verdict for a run smoke-tested on several devices: pass only when every device passed; the worst
    latency; each device's device, arch, status, latency, requests, bytes pulled and reason in ``devices``."""
    rows = [DeviceVerdict(device=d.device, arch=d.arch, status=v.status, cases=v.cases, requests=v.requests,
                          p50_ms=v.p50_ms, p95_ms=v.p95_ms, bytes_pulled=v.bytes_pulled, reason=v.reason)
            for d, v in zip(devices, verdicts, strict=True)]
    bad = [row for row in rows if row.status != EdgeStatus.PASS]
    status = EdgeStatus.PASS if rows and not bad else (
        EdgeStatus.TIMEOUT if bad and all(r.status == EdgeStatus.TIMEOUT for r in bad) else EdgeStatus.FAIL)
    failures = [f"{row.device or 'device'} ({row.arch or 'any'}): {failure}"
                for row, verdict in zip(rows, verdicts, strict=True) for failure in verdict.failures]
    reason = "; ".join(f"{row.device or 'device'} ({row.arch or 'any'}) {row.status}: {row.reason}" for row in bad)
    return SmokeVerdict(run_id=run_id, status=status, cases=sum(r.cases for r in rows), failures=failures,
                        p50_ms=max((r.p50_ms for r in rows), default=0.0),
                        p95_ms=max((r.p95_ms for r in rows), default=0.0), reason=reason,
                        bytes_pulled=sum(r.bytes_pulled for r in rows), devices=rows,
                        requests=sum(r.requests for r in rows))


# The edge smoke stage's activity payloads (orchestrations/edge_pool.py, function_app/edge.py)


@dataclass(frozen=True)
class EdgeSmokeRequest(Record):
    """The ``edge_smoke`` sub-orchestration's input (passed on to ``edge_deploy``). Output: ``SmokeVerdict``.

    ``cases`` default to the model folder's sample request and expected response, ``smoke_image`` to the
    configured one, ``device_wait_seconds`` (how long to wait for a busy device) to 2 × timeout + 600."""

    run_id: str
    model: str
    image: str
    poll_seconds: float = 15
    timeout_seconds: float = 1200
    device_wait_seconds: float | None = None
    smoke_image: str = ""
    cases: list[dict[str, Any]] | None = None
    ready_timeout_seconds: int = 300
    request_timeout_seconds: int = 30
    repeat: int = 5
    device: str = ""  # the pool device (factory.edge.pool); "" is the default single device
    arch: str = ""  # the architecture that device runs

    @property
    def wait_seconds(self) -> float:
        return self.device_wait_seconds if self.device_wait_seconds is not None else 2 * self.timeout_seconds + 600


# --- the edge_smoke sub-orchestration's activities (function_app/edge.py → factory.edge.service) -------------


@dataclass(frozen=True)
class EdgePlanRequest(Record):
    """``edge_devices`` input: the image (index) to smoke-test."""

    image: str


@dataclass(frozen=True)
class EdgePlan(Record):
    """``edge_devices`` result: the pool devices to test on (``{"device", "arch"}``, one per architecture of the
    image), the architectures no device covers, and all the image's architectures; ``refused`` says why no
    device may be targeted (the image's signature did not verify)."""

    devices: list[EdgeDevice] = field(default_factory=list[EdgeDevice])
    missing: list[str] = field(default_factory=list[str])
    arches: list[str] = field(default_factory=list[str])
    refused: str = ""


@dataclass(frozen=True)
class EdgeLeaseRequest(Record):
    """``edge_lease`` input: take (or renew) ``device`` for the run, for ``ttl_seconds``."""

    run_id: str
    ttl_seconds: float
    device: str = ""  # "" is the default single device


@dataclass(frozen=True)
class EdgeLease(Record):
    """``edge_lease`` result: ``acquired``, else who holds the device until when (and, where the device keeps
    one, the queue of runs waiting and why this one must wait)."""

    acquired: bool
    holder: str = ""
    expires_at: str = ""  # ISO 8601
    queue: list[str] = field(default_factory=list[str])
    reason: str = ""


@dataclass(frozen=True)
class EdgeDeviceRequest(Record):
    """``edge_snapshot``, ``edge_read_report`` and ``edge_release`` input: the run and its device."""

    run_id: str
    device: str = ""


# edge_snapshot's result is the device's modules content itself (``ModulesContent``: the IoT Edge document,
# module name → twin; ``{}`` when the device has no deployment), handed back unchanged in EdgeRestoreRequest.
ModulesContent = dict[str, Any]


@dataclass(frozen=True)
class EdgeDeployment(Record):
    """``edge_deploy`` result (input: ``EdgeSmokeRequest``): the model's module, the smoke module, the image."""

    module: str
    smoke_module: str
    image: str


@dataclass(frozen=True)
class EdgeReport(Record):
    """``edge_read_report`` result: the smoke module's ``verdict`` for the run once it reported one; until then
    what it last reported (``seen``: runId, status, reason) and the modules' runtime status (``modules``)."""

    verdict: SmokeVerdict | None = None
    seen: dict[str, Any] = field(default_factory=dict[str, Any])
    modules: dict[str, Any] = field(default_factory=dict[str, Any])


@dataclass(frozen=True)
class EdgeRestoreRequest(Record):
    """``edge_restore`` input: the snapshot to put back on the run's device."""

    run_id: str
    content: ModulesContent = field(default_factory=dict[str, Any])
    device: str = ""


@dataclass(frozen=True)
class EdgeReleased(Record):
    """``edge_release`` result."""

    released: bool = True


@dataclass(frozen=True)
class EdgeRestored(Record):
    """``edge_restore`` result."""

    restored: bool = True
