"""The Durable contract (the contract/ package): every name is a registered function, every record
round-trips through its JSON form, instance ids are derived in one place."""

from __future__ import annotations

import importlib
import json
import pkgutil
from dataclasses import MISSING, fields

import azure.durable_functions as df
import pytest

import contract
import function_app
from contract import (
    Activity,
    ApprovalOutcome,
    Decision,
    EdgeSmokeRequest,
    EdgeStatus,
    GateVerdict,
    Lineage,
    Orchestrator,
    RunProgress,
    RunResult,
    RunStatus,
    SmokeVerdict,
    Stage,
)


def _functions() -> list:
    """The app's functions, from a new app holding function_app's blueprints (``get_functions`` may run only
    once per app object, and other tests index ``function_app.app`` itself)."""
    fresh = df.DFApp()
    for info in pkgutil.iter_modules(function_app.__path__):
        module = importlib.import_module(f"function_app.{info.name}")
        if isinstance(getattr(module, "bp", None), df.Blueprint):
            fresh.register_functions(module.bp)
    return fresh.get_functions()


FUNCTIONS = _functions()


def _registered(trigger: str) -> set[str]:
    names = set()
    for function in FUNCTIONS:
        if any(binding.type == trigger for binding in function.get_bindings()):
            names.add(function.get_function_name())
    return names


def test_every_activity_and_orchestrator_name_is_a_function_of_the_app():
    from contract import FLEET_ROLLOUT, RolloutActivity

    assert _registered("activityTrigger") == {a.value for a in Activity} | {a.value for a in RolloutActivity}
    assert _registered("orchestrationTrigger") == {o.value for o in Orchestrator} | {FLEET_ROLLOUT}


def test_instance_ids_of_a_runs_sub_orchestrations():
    assert contract.approval_instance_id("wine-abc") == "wine-abc-approval"
    assert contract.edge_instance_id("wine-abc") == "wine-abc-edge"


RECORDS = [getattr(contract, name) for name in contract.__all__
           if isinstance(getattr(contract, name), type) and hasattr(getattr(contract, name), "__dataclass_fields__")]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.__name__)
def test_records_round_trip_through_json(record):
    value = record.from_dict({f.name: _sample(str(f.type)) for f in fields(record)
                              if f.default is MISSING and f.default_factory is MISSING})
    wire = json.loads(json.dumps(value.to_dict()))
    assert record.from_dict(wire) == value
    assert set(wire) == {f.name for f in fields(record)}


def _sample(annotation: str):
    samples = {"str": "x", "int": 3, "float": 1.5, "bool": True, "RunStatus": "Failed", "Stage": "gate",
               "Decision": "approve", "EdgeStatus": "pass", "dict[str, Any]": {"k": 1},
               "ApprovalRequest": {"run_id": "r", "model": "m", "version": "1", "digest": "d", "timeout_s": 3},
               "RolloutStatus": "RolledBack", "SmokeVerdict": {"run_id": "r", "status": "pass", "p95_ms": 2.5},
               "Lineage": {"model": "m", "model_version": "2", "data": {"rows": 3}, "edge": {"status": "fail"}},
               "RolloutPlan": {"run_id": "r", "model": "m", "version": "1", "image": "i", "rings": [
                   {"name": "canary", "configuration_id": "c", "target_condition": "t", "bucket_lo": 0,
                    "bucket_hi": 9}]},
               "RolloutResult": {"run_id": "r", "model": "m", "version": "1", "status": "Completed", "rings": [
                   {"ring": "canary", "passed": True, "checks": [{"signal": "s", "value": 1.0, "bound": 2.0,
                                                                  "passed": True}]}]}}
    return samples[annotation]


def test_records_read_plain_json_into_enums_and_tolerate_unknown_and_missing_keys():
    result = RunResult.from_dict({"status": "Rejected", "stage": "gate", "reason": "r", "lineage": {}, "new": 1})
    assert result.status is RunStatus.REJECTED and result.stage is Stage.GATE
    assert json.loads(json.dumps(result.to_dict()))["status"] == "Rejected"
    assert ApprovalOutcome.from_dict({"decision": "timeout"}) == ApprovalOutcome(Decision.TIMEOUT)
    verdict = SmokeVerdict.from_dict({"run_id": "r", "status": "timeout"})
    assert verdict.status is EdgeStatus.TIMEOUT and verdict.failures == []
    assert GateVerdict.from_dict({"passed": False, "reasons": ["rmse"]}).metrics == {}
    with pytest.raises(ValueError):
        SmokeVerdict.from_dict({"run_id": "r", "status": "maybe"})


def test_a_null_is_none_only_where_the_field_may_be_none():
    progress = RunProgress.from_dict({"stage": None, "lineage": None, "reason": None})
    assert progress == RunProgress(stage=None, lineage=Lineage(), reason="")  # nulls of typed fields: their defaults
    assert Lineage.from_dict({"model": None, "edge": None, "metrics": None}) == Lineage()
    assert RunResult.maybe({"status": "Failed", "stage": "gate", "reason": "r", "lineage": None}) is None  # required
    assert RunResult.maybe({"status": "Failed", "stage": "gate", "reason": "r", "lineage": {}}) is not None


def test_edge_smoke_request_waits_for_a_busy_device_twice_the_timeout_plus_ten_minutes_by_default():
    request = EdgeSmokeRequest(run_id="r", model="m", image="i", timeout_seconds=100)
    assert request.wait_seconds == 800
    assert EdgeSmokeRequest.from_dict({**request.to_dict(), "device_wait_seconds": 5}).wait_seconds == 5


def test_edge_records_read_the_activities_wire_forms():
    report = contract.EdgeReport.from_dict({"verdict": {"run_id": "r", "status": "pass", "cases": 2}, "seen": {},
                                            "modules": {}})
    assert isinstance(report.verdict, SmokeVerdict) and report.verdict.status is EdgeStatus.PASS
    assert contract.EdgeReport.from_dict({"verdict": None, "seen": {"runId": "old"}}).verdict is None
    waiting = contract.EdgeLease.from_dict({"acquired": False, "holder": "", "expires_at": "", "queue": ["a", "b"],
                                            "reason": "run a asked first"})
    assert not waiting.acquired and waiting.queue == ["a", "b"]
    assert contract.EdgeLease.from_dict({"acquired": True, "holder": "r", "expires_at": "t"}).queue == []
    restore = contract.EdgeRestoreRequest("r", {"$edgeAgent": {}}, "sim-arm64")
    assert restore.to_dict() == {"run_id": "r", "content": {"$edgeAgent": {}}, "device": "sim-arm64"}


def test_a_run_summary_answers_for_itself_from_the_wire():
    from contract import FINISHED_STATUSES, ApprovalStage, RunSummary, RuntimeStatus

    waiting = RunSummary.from_dict({"run_id": "r", "runtime_status": "Running", "stage": "approval",
                                    "approval": {"runtime_status": "Running", "stage": "waiting for approval",
                                                 "expires_at": "2027-01-15T09:00:00+00:00"},
                                    "lineage": {"model": "m", "edge": {}, "decision": "", "data": {"rows": 3}}})
    assert waiting.in_flight and waiting.waiting_for_approval and not waiting.has_ended
    assert waiting.approval is not None and waiting.approval.waiting and waiting.approval.stage is ApprovalStage.WAITING
    assert waiting.outcome == "running" and waiting.lineage.edge is None and waiting.lineage.decision is None
    assert waiting.lineage.data.rows == 3
    ended = RunSummary.from_dict({"run_id": "r", "runtime_status": "Completed", "stage": "ended", "result": "Rejected",
                                  "ended_at_stage": "gate"})
    assert ended.has_ended and ended.outcome == "Rejected" and ended.current_stage is Stage.GATE
    terminated = RunSummary("r", RuntimeStatus.TERMINATED)
    assert terminated.outcome == "Failed" and terminated.has_ended
    assert RuntimeStatus.CONTINUED_AS_NEW.in_flight and RuntimeStatus.FAILED in FINISHED_STATUSES
    assert RunResult.maybe({"lineage": {}}) is None and RunResult.maybe("text") is None
    assert RunSummary.from_dict(json.loads(json.dumps(waiting.to_dict()))) == waiting
