# pyright: strict
"""The ring gate: the devices' own signals for the new version against the bounds and against the previous
version on the same devices. Pure: the verdict names each signal, its value, its bound and the devices behind it.

- ``applied_reporting``: connected devices running the new version and reporting requests, at least
  ``min_devices``;
- ``failed_percent``: connected devices whose model module is not running (edgeAgent says backoff, failed,
  stopped) or whose own health check fails, as a share of the connected devices; an offline device is neither
  failed nor applied: it converges to the highest-priority configuration when it returns;
- ``error_rate``: errors / requests of the new version, over the ring;
- ``p95_regression``: the median over devices of (new p95 / previous p95 - 1), on devices that report both;
- ``prediction_shift``: the population stability index of the new version's pooled prediction histogram against
  the previous version's on the same devices.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping

from contract import DeviceReport, RingVerdict, SignalCheck, VersionSignals

FAILING_STATES = frozenset({"backoff", "failed", "stopped", "dead", "unhealthy"})
PSI_FLOOR = 1e-4  # a bin empty on one side counts as this share (the usual smoothing; PSI is infinite otherwise)
MAX_DEVICES_NAMED = 20


def psi(expected: Mapping[str, int], actual: Mapping[str, int]) -> float:
    """Population stability index of ``actual`` against ``expected`` (counts per bin); 0 when either is empty."""
    total_e, total_a = sum(expected.values()), sum(actual.values())
    if total_e <= 0 or total_a <= 0:
        return 0.0
    value = 0.0
    for key in set(expected) | set(actual):
        e = max(expected.get(key, 0) / total_e, PSI_FLOOR)
        a = max(actual.get(key, 0) / total_a, PSI_FLOOR)
        value += (a - e) * math.log(a / e)
    return round(value, 4)


def failure(report: DeviceReport, version: str) -> str:
    """Why a connected device counts as failed ("" when it does not)."""
    if report.module_status in FAILING_STATES:
        return f"module {report.module_status}"
    if report.health != "ok" and report.version in (version, ""):
        return report.health or "reported failure"
    return ""


def _named(reports: Iterable[DeviceReport], why: Mapping[str, str] | None = None) -> list[str]:
    """``device (arch): why`` for the first ``MAX_DEVICES_NAMED`` reports."""
    named: list[str] = []
    for r in list(reports)[:MAX_DEVICES_NAMED]:
        label = f"{r.device} ({r.arch})" if r.arch else r.device
        reason = (why or {}).get(r.device, "")
        named.append(f"{label}: {reason}" if reason else label)
    return named


def judge(ring: str, reports: list[DeviceReport], version: str, previous: str, min_devices: int,
          max_failed_percent: float, max_error_rate: float, max_p95_regression: float,
          max_prediction_shift: float) -> RingVerdict:
    """The verdict on one ring's devices (every device its target condition selects) after the bake time."""
    online = [r for r in reports if r.connected]
    offline = [r.device for r in reports if not r.connected]
    why = {r.device: failure(r, version) for r in online}
    failed = [r for r in online if why[r.device]]
    applied = [r for r in online if not why[r.device] and r.version == version
               and r.signals.get(version, VersionSignals()).requests > 0]
    failed_percent = round(100.0 * len(failed) / len(online), 2) if online else 0.0
    settled = {r.device for r in applied} | {r.device for r in failed}
    pending = [r for r in online if r.device not in settled]
    checks = [
        SignalCheck("applied_reporting", len(applied), min_devices, len(applied) >= min_devices,
                    _named(pending) if len(applied) < min_devices else [],
                    f"{len(applied)} of {len(online)} connected devices run {version} and report"),
        SignalCheck("failed_percent", failed_percent, max_failed_percent, failed_percent <= max_failed_percent,
                    _named(failed, why)),
        _error_rate(applied, version, max_error_rate),
        _p95_regression(applied, version, previous, max_p95_regression),
        _prediction_shift(applied, version, previous, max_prediction_shift),
    ]
    return RingVerdict(ring=ring, passed=all(c.passed for c in checks), checks=checks, targeted=len(reports),
                       applied=len(applied), offline=offline[:MAX_DEVICES_NAMED])


def _error_rate(applied: list[DeviceReport], version: str, bound: float) -> SignalCheck:
    requests = sum(r.signals[version].requests for r in applied)
    errors = sum(r.signals[version].errors for r in applied)
    rate = round(errors / requests, 4) if requests else 0.0
    worst = [r for r in applied if r.signals[version].errors / r.signals[version].requests > bound]
    return SignalCheck("error_rate", rate, bound, rate <= bound, _named(worst) if rate > bound else [],
                       f"{errors} errors in {requests} requests")


def _both(applied: list[DeviceReport], previous: str) -> list[DeviceReport]:
    return [r for r in applied if previous and r.signals.get(previous, VersionSignals()).requests > 0]


def _p95_regression(applied: list[DeviceReport], version: str, previous: str, bound: float) -> SignalCheck:
    compared = [r for r in _both(applied, previous) if r.signals[previous].p95_ms > 0]
    if not compared:
        return SignalCheck("p95_regression", 0.0, bound, True, note="no device reports the previous version's p95")
    ratio = {r.device: r.signals[version].p95_ms / r.signals[previous].p95_ms - 1 for r in compared}
    value = round(statistics.median(ratio.values()), 4)
    slower = [r for r in compared if ratio[r.device] > bound]
    return SignalCheck("p95_regression", value, bound, value <= bound, _named(slower) if value > bound else [],
                       f"median over {len(compared)} devices against version {previous}")


def _prediction_shift(applied: list[DeviceReport], version: str, previous: str, bound: float) -> SignalCheck:
    compared = [r for r in _both(applied, previous) if r.signals[previous].histogram and r.signals[version].histogram]
    if not compared:
        return SignalCheck("prediction_shift", 0.0, bound, True,
                           note="no device reports both versions' prediction histograms")
    new: Counter[str] = Counter()
    old: Counter[str] = Counter()
    for r in compared:
        new.update(r.signals[version].histogram)
        old.update(r.signals[previous].histogram)
    value = psi(old, new)
    shifted = [r for r in compared if psi(r.signals[previous].histogram, r.signals[version].histogram) > bound]
    top_new = max(new, key=lambda k: new[k])
    return SignalCheck("prediction_shift", value, bound, value <= bound, _named(shifted) if value > bound else [],
                       f"PSI over {len(compared)} devices against version {previous}; "
                       f"most frequent now {top_new!r} ({100 * new[top_new] / sum(new.values()):.0f} %)")
