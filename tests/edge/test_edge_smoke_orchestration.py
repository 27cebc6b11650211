"""The edge_smoke sub-orchestration replayed by the real Durable SDK, with its real activities
(``function_app.edge`` → ``EdgeSmokeService``) on an in-memory edge device."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from contract import EdgeLease
from factory.edge.manifest import SMOKE_MODULE
from factory.edge.service import EdgeSmokeService
from factory.settings import Settings
from orchestrations.edge_smoke import edge_smoke
from orchestrations.retrying import RetryPlan, carry

from .activities import edge_activities
from .replay import run_orchestrator

DIGEST = "sha256:" + "ab" * 32
PREVIOUS = {"$edgeAgent": {"properties.desired": {"modules": {"othermodule": {}}}}, "$edgeHub": {}}
CASES = [{"name": "two rows", "request": {"data": [[1, 2], [3, 4]]}, "expected": {"predictions": [6.0, 14.0]},
          "tolerance": 1e-6}]


class MemoryDevice:
    """An in-memory EdgeDeployer: keeps the applied content; the smoke module's report appears after
    ``report_after`` reads of its twin (or never)."""

    def __init__(self, report: dict[str, Any] | None, report_after: int = 2, busy_for: int = 0) -> None:
        self.content = copy.deepcopy(PREVIOUS)
        self.report, self.report_after, self.reads = report, report_after, 0
        self.applied: list[dict[str, Any]] = []
        self.busy_for, self.holder = busy_for, ""  # another run holds the device for busy_for lease attempts

    def lease(self, holder: str, ttl_seconds: float) -> EdgeLease:
        if self.busy_for > 0:
            self.busy_for -= 1
            return EdgeLease(False, "run-other", "2026-01-01T01:00:00+00:00")
        assert self.holder in ("", holder) and ttl_seconds > 0
        self.holder = holder
        return EdgeLease(True, holder, "2026-01-01T01:00:00+00:00")

    def release(self, holder: str) -> None:
        if self.holder == holder:
            self.holder = ""

    def current_content(self) -> dict[str, Any]:
        return copy.deepcopy(self.content)

    def apply(self, content: dict[str, Any]) -> None:
        self.applied.append(content)
        self.content = copy.deepcopy(content)

    def restore(self, content: dict[str, Any]) -> None:
        self.apply(content)

    def reported(self, module: str) -> dict[str, Any]:
        if module == "$edgeAgent":
            return {"modules": {SMOKE_MODULE: {"runtimeStatus": "running"}}}
        self.reads += 1
        if self.report is None or self.reads < self.report_after:
            return {"runId": "an-earlier-run", "status": "pass"}
        return self.report


def activities(device: MemoryDevice) -> dict[str, Any]:
    settings = Settings.from_env({"FACTORY_EDGE_SMOKE_IMAGE": f"127.0.0.1:1/smoke@{DIGEST}"})
    return edge_activities(EdgeSmokeService(device, settings))


def smoke_input(**overrides: Any) -> dict[str, Any]:
    return {"run_id": "run-42", "model": "nyc_taxi", "image": f"127.0.0.1:1/nyc_taxi@{DIGEST}", "cases": CASES,
            "poll_seconds": 10, "timeout_seconds": 60, **overrides}


def test_pass_report_for_this_run_gives_pass_and_restores_the_previous_deployment():
    device = MemoryDevice({"runId": "run-42", "status": "pass", "cases": 1, "requests": 5, "failures": {},
                           "p50Ms": 1.5, "p95Ms": 2.5}, report_after=3)
    result = run_orchestrator(edge_smoke, smoke_input(), activities(device))
    assert result.output == {"run_id": "run-42", "status": "pass", "cases": 1, "failures": [], "p50_ms": 1.5,
                             "p95_ms": 2.5, "reason": "", "bytes_pulled": 0, "devices": [], "requests": 5}
    assert result.activity_names() == ["edge_lease", "edge_snapshot", "edge_deploy", "edge_read_report",
                                       "edge_read_report", "edge_read_report", "edge_restore", "edge_release"]
    deployed = device.applied[0]
    assert deployed["$edgeAgent"]["properties.desired"]["modules"]["nyc-taxi"]["settings"]["image"].endswith(DIGEST)
    assert deployed[SMOKE_MODULE]["properties.desired"]["runId"] == "run-42"
    assert device.content == PREVIOUS and device.holder == ""
    assert [t - result.timers[0] for t in result.timers] == [dt.timedelta(seconds=s) for s in (0, 10, 20)]
    assert result.custom_status["step"] == "done"


def test_fail_report_names_the_failing_case_and_restores():
    device = MemoryDevice({"runId": "run-42", "status": "fail", "cases": 1, "reason": "1 of 1 cases failed",
                           "failures": {"two_rows": "two rows: request 1: $.predictions[0]: expected 6.0, got 7.0"}})
    result = run_orchestrator(edge_smoke, smoke_input(), activities(device))
    assert result.output["status"] == "fail"
    assert result.output["failures"] == ["two rows: request 1: $.predictions[0]: expected 6.0, got 7.0"]
    assert device.content == PREVIOUS


def test_no_report_times_out_on_durable_timers_with_a_clear_reason_and_restores():
    device = MemoryDevice(None)
    result = run_orchestrator(edge_smoke, smoke_input(poll_seconds=15, timeout_seconds=50), activities(device))
    assert result.output["status"] == "timeout"
    assert "run run-42" in result.output["reason"] and "50 s" in result.output["reason"]
    assert "an-earlier-run" in result.output["reason"]  # says what it did see
    assert result.activity_names().count("edge_read_report") == 4  # at 15, 30, 45 and the deadline 50
    assert result.timers[-1] - result.timers[0] == dt.timedelta(seconds=35)
    assert result.activity_names()[-2:] == ["edge_restore", "edge_release"]
    assert device.content == PREVIOUS and device.holder == ""


def test_deploy_failure_gives_fail_and_still_restores():
    device = MemoryDevice(None)
    result = run_orchestrator(edge_smoke, smoke_input(image="127.0.0.1:1/nyc_taxi:latest"), activities(device))
    assert result.output["status"] == "fail"
    assert "must be pinned by digest" in result.output["reason"]
    # a refused manifest is retried as the plan says (3 attempts by default): the activity cannot tell a
    # permanent error from a transient one, and a deploy is idempotent
    assert result.activity_names() == ["edge_lease", "edge_snapshot", *["edge_deploy"] * 3, "edge_restore",
                                       "edge_release"]
    assert device.content == PREVIOUS and device.holder == ""


def test_unreadable_device_fails_without_deploying():
    acts = activities(MemoryDevice(None))
    acts["edge_snapshot"] = lambda _req: (_ for _ in ()).throw(ConnectionError("edge simulator is not reachable"))
    result = run_orchestrator(edge_smoke, smoke_input(), acts)
    assert result.output["status"] == "fail" and "not reachable" in result.output["reason"]
    assert result.activity_names() == ["edge_lease", *["edge_snapshot"] * 3, "edge_release"]  # tried as planned


@pytest.mark.parametrize("poll,timeout,reads", [(5, 5, 1), (7, 20, 3), (30, 10, 1)])
def test_poll_count_follows_interval_and_timeout(poll, timeout, reads):
    result = run_orchestrator(edge_smoke, smoke_input(poll_seconds=poll, timeout_seconds=timeout),
                              activities(MemoryDevice(None)))
    assert result.output["status"] == "timeout"
    assert result.activity_names().count("edge_read_report") == reads


def test_busy_device_is_waited_for_on_durable_timers_then_used():
    device = MemoryDevice({"runId": "run-42", "status": "pass", "cases": 1}, report_after=1, busy_for=3)
    result = run_orchestrator(edge_smoke, smoke_input(poll_seconds=10), activities(device))
    assert result.output["status"] == "pass"
    names = result.activity_names()
    assert names[:4] == ["edge_lease"] * 4 and names[4] == "edge_snapshot"
    assert result.timers[2] - result.timers[0] == dt.timedelta(seconds=20)
    assert device.holder == ""


def test_device_busy_for_too_long_fails_without_touching_it():
    device = MemoryDevice(None, busy_for=10_000)
    result = run_orchestrator(edge_smoke, smoke_input(poll_seconds=10, device_wait_seconds=35), activities(device))
    assert result.output["status"] == "fail"
    assert "stayed busy for 35 s (lease held by run run-other" in result.output["reason"]
    assert set(result.activity_names()) == {"edge_lease"} and device.applied == []


def _flaky(fn, fails: int):
    """``fn``, raising a transient error on its first ``fails`` calls (a device API's 503, a reset connection)."""
    calls = {"n": 0}

    def call(req):
        calls["n"] += 1
        if calls["n"] <= fails:
            raise ConnectionError(f"503 Service Unavailable (call {calls['n']})")
        return fn(req)
    return call


@pytest.mark.parametrize("activity", ["edge_lease", "edge_snapshot", "edge_deploy", "edge_read_report"])
def test_a_transient_edge_failure_is_retried_as_the_run_plans_and_the_verdict_stands(activity):
    device = MemoryDevice({"runId": "run-42", "status": "pass", "cases": 1, "failures": {}, "p50Ms": 1.5,
                           "p95Ms": 2.5}, report_after=1)
    acts = activities(device)
    acts[activity] = _flaky(acts[activity], 2)  # fails twice; the plan allows three attempts
    result = run_orchestrator(edge_smoke, carry(smoke_input(), RetryPlan(3, 1000)), acts)
    assert result.output["status"] == "pass", result.output
    assert result.activity_names().count(activity) == 3
    assert device.content == PREVIOUS and device.holder == "" and len(device.applied) == 2  # deploy + restore


def test_an_edge_call_failing_beyond_the_plan_gives_a_clear_fail_and_still_restores():
    device = MemoryDevice(None)
    acts = activities(device)
    acts["edge_read_report"] = _flaky(acts["edge_read_report"], 99)
    result = run_orchestrator(edge_smoke, carry(smoke_input(), RetryPlan(2, 1000)), acts)
    assert result.output["status"] == "fail" and "503 Service Unavailable" in result.output["reason"]
    assert result.activity_names().count("edge_read_report") == 2
    assert result.activity_names()[-2:] == ["edge_restore", "edge_release"] and device.content == PREVIOUS
