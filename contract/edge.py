"""An edge smoke test's verdict, per device and combined over a run's devices."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

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
