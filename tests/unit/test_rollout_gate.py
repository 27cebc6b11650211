"""The ring gate on the devices' own signals: each failure path stops the ring and names signal, value, bound
and devices; an offline device is not counted as failed."""

from __future__ import annotations

from contract import DeviceReport, RingVerdict, VersionSignals
from factory.rollout.gate import judge, psi

LABELS = {"class_0": 40, "class_1": 35, "class_2": 25}
BOUNDS = {"max_failed_percent": 20.0, "max_error_rate": 0.02, "max_p95_regression": 0.5,
          "max_prediction_shift": 0.25}


def device(name: str, arch: str = "amd64", *, version: str = "2", status: str = "running", connected: bool = True,
           health: str = "ok", requests: int = 100, errors: int = 0, p95: float = 10.0,
           histogram: dict[str, int] | None = None) -> DeviceReport:
    signals = {"1": VersionSignals(requests=200, errors=0, p50_ms=5.0, p95_ms=10.0, histogram=dict(LABELS))}
    if version == "2" and status == "running":
        signals["2"] = VersionSignals(requests=requests, errors=errors, p50_ms=p95 / 2, p95_ms=p95,
                                      histogram=histogram if histogram is not None else dict(LABELS))
    return DeviceReport(device=name, arch=arch, connected=connected, version=version if status == "running" else "1",
                        module_status=status, health=health, signals=signals)


def gate(reports: list[DeviceReport], min_devices: int = 1) -> RingVerdict:
    return judge("canary", reports, "2", "1", min_devices, **BOUNDS)


def check(verdict: RingVerdict, signal: str):
    return next(c for c in verdict.checks if c.signal == signal)


def test_healthy_ring_passes_every_signal():
    verdict = gate([device(f"d{i}") for i in range(5)])
    assert verdict.passed and verdict.applied == 5 and verdict.reason == ""
    assert [c.signal for c in verdict.checks] == ["applied_reporting", "failed_percent", "error_rate",
                                                  "p95_regression", "prediction_shift"]
    assert check(verdict, "prediction_shift").value == 0.0


def test_module_crashing_on_one_architecture_fails_the_ring_and_names_those_devices():
    reports = [device("a1"), device("a2"), device("a3"), device("r1", "arm64", status="backoff"),
               device("r2", "arm64", status="failed")]
    verdict = gate(reports)
    failed = check(verdict, "failed_percent")
    assert not verdict.passed and not failed.passed
    assert (failed.value, failed.bound) == (40.0, 20.0)
    assert failed.devices == ["r1 (arm64): module backoff", "r2 (arm64): module failed"]
    assert "failed_percent 40 (bound 20) on r1 (arm64)" in verdict.reason


def test_three_times_slower_p95_fails_the_p95_gate():
    verdict = gate([device(f"d{i}", p95=30.0) for i in range(4)])
    p95 = check(verdict, "p95_regression")
    assert not verdict.passed and not p95.passed and p95.value == 2.0 and p95.bound == 0.5
    assert len(p95.devices) == 4
    assert check(verdict, "failed_percent").passed and check(verdict, "error_rate").passed


def test_predictions_collapsing_to_one_label_fail_the_prediction_shift_gate():
    verdict = gate([device(f"d{i}", histogram={"class_0": 100}) for i in range(3)])
    shift = check(verdict, "prediction_shift")
    assert not verdict.passed and not shift.passed and shift.value > 1.0
    assert "'class_0' (100 %)" in shift.note and len(shift.devices) == 3
    assert check(verdict, "p95_regression").passed


def test_offline_device_is_not_counted_as_failed():
    reports = [device("d1"), device("d2"), device("gone", connected=False, status="", version="1")]
    verdict = gate(reports, min_devices=2)
    assert verdict.passed and verdict.offline == ["gone"]
    assert check(verdict, "failed_percent").value == 0.0 and verdict.targeted == 3


def test_too_few_devices_applied_and_reporting_fails_and_names_the_pending_ones():
    reports = [device("d1"), device("slow", version="1"), device("gone", connected=False)]
    verdict = gate(reports, min_devices=2)
    applied = check(verdict, "applied_reporting")
    assert not verdict.passed and (applied.value, applied.bound) == (1, 2) and applied.devices == ["slow (amd64)"]


def test_error_rate_above_bound_fails():
    verdict = gate([device("d1", errors=10), device("d2", errors=0)])
    errors = check(verdict, "error_rate")
    assert not errors.passed and errors.value == 0.05 and errors.devices == ["d1 (amd64)"]


def test_reported_health_failure_counts_as_failed():
    verdict = gate([device("d1"), device("d2", health="scoring server not answering")])
    assert check(verdict, "failed_percent").devices == ["d2 (amd64): scoring server not answering"]
    assert not verdict.passed


def test_first_version_has_nothing_to_compare_and_says_so():
    reports = [DeviceReport("d1", version="2", module_status="running",
                            signals={"2": VersionSignals(requests=50, p95_ms=9.0, histogram={"a": 5})})]
    verdict = judge("canary", reports, "2", "", 1, **BOUNDS)
    assert verdict.passed
    assert "previous" in check(verdict, "p95_regression").note


def test_empty_ring_with_no_minimum_passes_and_with_a_minimum_fails():
    assert gate([], min_devices=0).passed
    assert not gate([], min_devices=1).passed


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_collapse():
    assert psi(LABELS, {k: 2 * v for k, v in LABELS.items()}) == 0.0
    assert psi(LABELS, {"class_0": 100}) > 1.0
    assert psi({}, LABELS) == 0.0


def test_verdict_round_trips_through_json():
    verdict = gate([device("d1", status="backoff"), device("d2")])
    assert RingVerdict.from_dict(verdict.to_dict()) == verdict
