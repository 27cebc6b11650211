"""The device pool: which devices test an image, one verdict from several, and the fair device lease."""

from __future__ import annotations

from dataclasses import replace

import pytest

from contract import EdgeDevice, EdgeStatus, SmokeVerdict, combine_verdicts
from factory.edge.pool import MAX_WAITERS, Device, PoolError, devices, for_architectures
from factory.settings import Settings
from localstack.edge_simulator import EdgeSimulator

POOL = "sim-amd64=amd64@http://127.0.0.1:5300,sim-arm64=arm64@http://127.0.0.1:5301"


def _settings(value: str) -> Settings:
    return Settings.from_env({"FACTORY_BACKEND": "local", "FACTORY_EDGE_DEVICES": value})


def test_one_device_per_architecture_of_the_image():
    pool = devices(_settings(POOL))
    assert pool == [Device("sim-amd64", "amd64", "http://127.0.0.1:5300"),
                    Device("sim-arm64", "arm64", "http://127.0.0.1:5301")]
    assert for_architectures(pool, ["amd64", "arm64"]) == (pool, [])
    assert for_architectures(pool[:1], ["amd64", "arm64"]) == (pool[:1], ["arm64"])
    assert devices(_settings("")) == [Device("", "")]  # unset: the one default device, any architecture
    with pytest.raises(PoolError, match="'edge1=riscv'"):
        devices(_settings("edge1=riscv"))


def test_the_stage_passes_only_when_every_architecture_passed():
    pool = [EdgeDevice("sim-amd64", "amd64"), EdgeDevice("sim-arm64", "arm64")]
    good = SmokeVerdict.from_dict({"status": "pass", "cases": 3, "requests": 15, "p50_ms": 2.0, "p95_ms": 4.0,
                                   "bytes_pulled": 900})
    slow = replace(good, p95_ms=40.0, bytes_pulled=1000)
    both = combine_verdicts("run-1", pool, [good, slow])
    assert both.status == "pass" and both.p95_ms == 40.0 and both.cases == 6 and both.bytes_pulled == 1900
    assert both.requests == 30
    assert [(d.device, d.arch, d.status, d.p95_ms, d.bytes_pulled) for d in both.devices] == [
        ("sim-amd64", "amd64", "pass", 4.0, 900), ("sim-arm64", "arm64", "pass", 40.0, 1000)]
    failed = combine_verdicts("run-1", pool, [good, SmokeVerdict.from_dict({
        "status": "fail", "failures": ["case 1: wrong"], "reason": "case 1: expected 1, got 2"})])
    assert failed.status == "fail" and failed.failures == ["sim-arm64 (arm64): case 1: wrong"]
    assert "sim-arm64 (arm64) fail: case 1: expected 1, got 2" in failed.reason
    timed_out = combine_verdicts("run-1", pool, [good, SmokeVerdict(status=EdgeStatus.TIMEOUT, reason="no report")])
    assert timed_out.status == "timeout"


def test_runs_waiting_for_a_device_get_it_in_the_order_they_asked(tmp_path):
    device = EdgeSimulator(tmp_path / "device")
    try:
        assert device.lease("run-a", 60).acquired
        assert not device.lease("run-b", 60).acquired  # b asks first, then c
        refused = device.lease("run-c", 60)
        assert not refused.acquired and refused.queue == ["run-b", "run-c"]
        device.release("run-a")
        late = device.lease("run-c", 60)  # c asks first after the release, but b has waited longer
        assert not late.acquired and "run-b asked first" in late.reason
        assert device.lease("run-b", 60).acquired
        assert device.lease("run-b", 60).acquired  # renewing keeps it
        device.release("run-b")
        assert device.lease("run-c", 60).acquired
    finally:
        device.close()


def test_the_simulator_keeps_at_most_32_runs_waiting_as_an_iot_hub_device_does(tmp_path):
    """The one fair-lease rule (factory.edge.pool.fair_lease) on the simulated device: a run past the cap is
    refused without joining the queue, and gets in once a waiter leaves it."""
    device = EdgeSimulator(tmp_path / "device")
    try:
        assert device.lease("run-holder", 60).acquired
        waiting = [device.lease(f"run-{i}", 60) for i in range(MAX_WAITERS)]
        assert not any(w.acquired for w in waiting) and len(waiting[-1].queue) == MAX_WAITERS
        late = device.lease("run-late", 60)
        assert not late.acquired and late.reason == f"{MAX_WAITERS} runs are already waiting"
        assert "run-late" not in late.queue and len(late.queue) == MAX_WAITERS
        device.release("run-holder")
        assert device.lease("run-0", 60).acquired  # the first waiter takes it and leaves the queue ...
        again = device.lease("run-late", 60)  # ... so the late run may now wait, last in line
        assert not again.acquired and again.queue[-1] == "run-late" and len(again.queue) == MAX_WAITERS
    finally:
        device.close()
