"""The fleet_rollout sub-orchestration replayed by the real Durable SDK, with its real activities
(``function_app.rollout`` → ``RolloutService``) on a ``SimulatedFleet`` that implements IoT Hub's configurations
(target conditions over tags, priorities, layered merge) over simulated device runtimes."""

from __future__ import annotations

import datetime as dt

import pytest

from contract import RolloutActivity, RolloutResult, RolloutStatus, VersionSignals
from factory.adapters.local.fleet import SimulatedFleet
from factory.adapters.local.fleet_runtime import Outcome, SimulatedRuntime
from factory.rollout.fleet import LABEL_MODEL, LABEL_RING, LABEL_VERSION, LayeredDeployment, layered_content
from factory.rollout.service import RolloutService
from factory.rollout.spec import AbortBounds, Ring, RolloutSpec, bucket
from function_app.rollout import handlers
from orchestrations.fleet_rollout import fleet_rollout

from .replay import run_orchestrator

MODEL, MODULE = "wine_cultivar", "wine-cultivar"
IMAGE = "127.0.0.1:1/models/wine-cultivar@sha256:" + "2" * 64
OLD_IMAGE = "127.0.0.1:1/models/wine-cultivar@sha256:" + "1" * 64
LABELS = {"class_0": 40, "class_1": 35, "class_2": 25}
SPEC = RolloutSpec(fleet="tags.site = 'plant-a'",
                   rings=(Ring("canary", 10, min_devices=1, bake_minutes=2), Ring("wave", 50, bake_minutes=2),
                          Ring("all", 100)), abort=AbortBounds())


def healthy(p95: float = 10.0, histogram: dict[str, int] | None = None) -> Outcome:
    return Outcome(signals=VersionSignals(requests=100, errors=0, p50_ms=p95 / 2, p95_ms=p95,
                                          histogram=dict(histogram or LABELS)))


class Scenario:
    """A fleet of ``n`` devices (every other one arm64) at plant-a, plus two at plant-b, running version 1."""

    def __init__(self, new_version, n: int = 40) -> None:
        self.new_version = new_version
        self.runtime = SimulatedRuntime(MODULE, self.behaviour)
        self.fleet = SimulatedFleet(self.runtime)
        for i in range(n):
            self.fleet.add_device(f"dev-{i:03d}", "arm64" if i % 2 else "amd64", {"site": "plant-a"})
        for i in range(2):
            self.fleet.add_device(f"other-{i}", "amd64", {"site": "plant-b"})
        self.fleet.create_deployment(LayeredDeployment(  # version 1, as its completed rollout left it
            "mf-wine-cultivar-v1-all", "tags.site = 'plant-a'", 1,
            layered_content(MODEL, MODULE, "1", OLD_IMAGE, "run-1"),
            {LABEL_MODEL: MODEL, LABEL_VERSION: "1", LABEL_RING: "all"}))
        self.fleet.sync()
        self.production: list[tuple[str, str]] = []  # mark_production calls, as the model registry gets them
        self.service = RolloutService(self.fleet, lambda model: SPEC if model == MODEL else None,
                                      poll_seconds=30, rollback_timeout_s=600, registry=self)

    def mark_production(self, name: str, version: str) -> None:
        self.production.append((name, version))

    def behaviour(self, device: str, arch: str, version: str) -> Outcome:
        return healthy() if version == "1" else self.new_version(device, arch)

    def run(self, **kwargs):
        request = {"run_id": "run-2", "model": MODEL, "version": "2", "image": IMAGE}
        result = run_orchestrator(fleet_rollout, request, handlers(self.service), **kwargs)
        return result, RolloutResult.from_dict(result.output)

    def versions(self, site: str = "plant-a") -> dict[str, int]:
        counts: dict[str, int] = {}
        for report in self.fleet.device_reports(f"tags.site = '{site}'", MODULE):
            counts[report.version] = counts.get(report.version, 0) + 1
        return counts


def test_healthy_version_goes_through_every_ring_to_the_whole_fleet():
    scenario = Scenario(lambda device, arch: healthy(p95=11.0))
    replay, result = scenario.run()
    assert result.status == RolloutStatus.COMPLETED and result.previous_version == "1"
    assert [v.ring for v in result.rings] == ["canary", "wave", "all"] and all(v.passed for v in result.rings)
    assert sum(v.targeted for v in result.rings) == 40
    assert scenario.versions() == {"2": 40} and scenario.versions("plant-b") == {"": 2}  # outside the fleet
    assert replay.activity_names().count("rollout_apply_ring") == 3  # each ring applied once over every replay
    assert scenario.fleet.operations["create_configuration"] == 4  # version 1's + one per ring
    assert sorted(scenario.fleet.configurations) == ["mf-wine-cultivar-v2-all", "mf-wine-cultivar-v2-canary",
                                                     "mf-wine-cultivar-v2-wave"]  # version 1's layer cleaned up
    assert scenario.production == []  # promote already made version 2 production
    assert all(c.priority == 2 for _, c in scenario.fleet.configurations.values())
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # the replay driver's virtual clock
    assert replay.timers == [start + dt.timedelta(minutes=m) for m in (2, 4, 4)]  # canary, wave bake 2 min; all 0
    assert replay.custom_status["step"] == "done"


def test_module_crashing_on_arm64_only_stops_the_canary_and_the_fleet_returns_to_the_previous_version():
    scenario = Scenario(lambda device, arch: Outcome(status="backoff") if arch == "arm64" else healthy())
    replay, result = scenario.run()
    assert result.status == RolloutStatus.ROLLED_BACK and [v.ring for v in result.rings] == ["canary"]
    failed = next(c for c in result.rings[0].checks if c.signal == "failed_percent")
    assert not failed.passed and failed.devices and all("(arm64): module backoff" in d for d in failed.devices)
    assert "ring canary: failed_percent" in result.reason and "(arm64): module backoff" in result.reason
    assert scenario.versions() == {"1": 40}
    assert sorted(scenario.fleet.configurations) == ["mf-wine-cultivar-v1-all"]
    assert "back on version 1" in result.reason and result.rolled_back_devices == result.rings[0].targeted
    assert "rollout_roll_back" in replay.activity_names()
    assert scenario.production == [(MODEL, "1")]  # production in the model registry is the previous version again


def test_three_times_slower_version_is_stopped_by_the_p95_gate():
    scenario = Scenario(lambda device, arch: healthy(p95=30.0))
    _, result = scenario.run()
    assert result.status == RolloutStatus.ROLLED_BACK
    p95 = next(c for c in result.rings[0].checks if c.signal == "p95_regression")
    assert not p95.passed and p95.value == 2.0 and p95.bound == 0.5
    assert scenario.versions() == {"1": 40}


def test_predictions_collapsing_to_one_label_are_stopped_by_the_prediction_shift_gate():
    scenario = Scenario(lambda device, arch: healthy(histogram={"class_1": 100}))
    _, result = scenario.run()
    assert result.status == RolloutStatus.ROLLED_BACK and "prediction_shift" in result.reason
    assert scenario.versions() == {"1": 40}


def test_offline_device_is_not_counted_as_failed_and_converges_when_it_returns():
    scenario = Scenario(lambda device, arch: healthy())
    offline = next(d for d in scenario.fleet.devices if d.startswith("dev-") and bucket(d) < 10)  # a canary device
    scenario.fleet.set_connected(offline, False)
    _, result = scenario.run()
    assert result.status == RolloutStatus.COMPLETED
    assert offline in result.rings[0].offline
    assert all(c.value == 0 for c in result.rings[0].checks if c.signal == "failed_percent")
    assert scenario.versions() == {"2": 39, "1": 1}
    scenario.fleet.set_connected(offline, True)
    assert scenario.versions() == {"2": 40}


def test_a_newer_version_supersedes_the_running_rollout():
    scenario = Scenario(lambda device, arch: healthy())
    calls = handlers(scenario.service)
    judge = calls["rollout_judge_ring"]

    def judge_then_newer_version_starts(req):
        verdict = judge(req)
        if req["ring"] == 0:  # while ring canary bakes, version 3 is promoted and starts its own rollout
            plan3 = calls["rollout_plan"]({"run_id": "run-3", "model": MODEL, "version": "3",
                                           "image": IMAGE.replace("2" * 64, "3" * 64)})
            calls["rollout_apply_ring"]({"plan": plan3, "ring": 0})
        return verdict

    calls["rollout_judge_ring"] = judge_then_newer_version_starts
    result = run_orchestrator(fleet_rollout, {"run_id": "run-2", "model": MODEL, "version": "2", "image": IMAGE},
                              calls)
    ended = RolloutResult.from_dict(result.output)
    assert ended.status == RolloutStatus.SUPERSEDED and "version 3" in ended.reason
    assert result.activity_names().count("rollout_apply_ring") == 1  # ring wave of version 2 never applied
    priorities = {c.labels[LABEL_VERSION]: c.priority for _, c in scenario.fleet.configurations.values()}
    assert priorities == {"1": 1, "2": 2, "3": 3}


def test_too_few_devices_reporting_waits_until_the_apply_timeout_then_rolls_back():
    scenario = Scenario(lambda device, arch: Outcome(status="running", signals=None))  # serves nothing
    replay, result = scenario.run()
    assert result.status == RolloutStatus.ROLLED_BACK and "applied_reporting 0 (bound 1)" in result.reason
    judged = replay.activity_names().count("rollout_judge_ring")
    assert judged == 1 + 900 // 30  # after the bake, every poll until the 900 s apply timeout
    assert scenario.versions() == {"1": 40}


def test_a_model_without_rollout_fails_the_plan_with_a_clear_reason():
    scenario = Scenario(lambda device, arch: healthy())
    scenario.service.spec_of = lambda model: None
    _, result = scenario.run()
    assert result.status == RolloutStatus.FAILED and "declares no rollout" in result.reason
    assert scenario.fleet.operations["create_configuration"] == 1  # only version 1's


@pytest.mark.parametrize("image", ["127.0.0.1:1/models/wine-cultivar:2", "wine@sha256:short"])
def test_an_image_not_pinned_by_digest_is_refused_before_anything_changes(image):
    scenario = Scenario(lambda device, arch: healthy())
    result = run_orchestrator(fleet_rollout, {"run_id": "run-2", "model": MODEL, "version": "2", "image": image},
                              handlers(scenario.service))
    ended = RolloutResult.from_dict(result.output)
    assert ended.status == RolloutStatus.FAILED and "pinned by digest" in ended.reason
    assert scenario.versions() == {"1": 40}


def test_pause_holds_the_rollout_until_resume_and_the_bake_starts_over():
    scenario = Scenario(lambda device, arch: healthy())
    replay, result = scenario.run(events=[("RolloutControl", {"action": "pause", "by": "alice"}),
                                          ("RolloutControl", {"action": "resume", "by": "bob"})])
    assert result.status == RolloutStatus.COMPLETED and scenario.versions() == {"2": 40}
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    # canary's first bake timer (2 min) lost to the pause; after the resume its bake starts over from t0
    assert replay.timers[:2] == [start + dt.timedelta(minutes=2)] * 2
    assert replay.activity_names().count("rollout_apply_ring") == 3


def test_abort_through_the_control_event_rolls_back_naming_who():
    scenario = Scenario(lambda device, arch: healthy())
    replay, result = scenario.run(events=[("RolloutControl", {"action": "abort", "by": "carol"})])
    assert result.status == RolloutStatus.ROLLED_BACK
    assert result.reason.startswith("ring canary: aborted by carol") and "back on version 1" in result.reason
    assert scenario.versions() == {"1": 40} and "rollout_judge_ring" not in replay.activity_names()


def test_abort_while_paused_rolls_back():
    scenario = Scenario(lambda device, arch: healthy())
    _, result = scenario.run(events=[("RolloutControl", {"action": "pause", "by": "alice"}),
                                     ("RolloutControl", {"action": "abort", "by": "dave"})])
    assert result.status == RolloutStatus.ROLLED_BACK and "aborted by dave while paused" in result.reason
    assert scenario.versions() == {"1": 40}


def test_an_abort_raised_while_an_activity_runs_is_not_lost_and_stops_the_next_ring():
    scenario = Scenario(lambda device, arch: healthy())
    replay, result = scenario.run(events=[("RolloutControl", {"action": "abort", "by": "erin"}, "rollout_judge_ring")])
    assert result.status == RolloutStatus.ROLLED_BACK and result.reason.startswith("ring wave: aborted by erin")
    assert [v.ring for v in result.rings] == ["canary"] and scenario.versions() == {"1": 40}
    assert replay.activity_names().count("rollout_apply_ring") == 2


def test_rollout_activities_are_tried_as_the_retry_plan_the_run_hands_on_says():
    """The run hands its retry plan to the rollout (``carry``): a judge that keeps failing is tried that many
    times, then the rollout deletes its configurations and ends Failed."""
    from orchestrations.retrying import RetryPlan, carry

    scenario = Scenario(lambda device, arch: healthy())
    activities = handlers(scenario.service)

    def judge_down(req):
        raise ConnectionError("IoT Hub answered 503")

    activities[RolloutActivity.JUDGE_RING] = judge_down
    request = {"run_id": "run-2", "model": MODEL, "version": "2", "image": IMAGE}
    result = run_orchestrator(fleet_rollout, carry(request, RetryPlan(attempts=2, interval_ms=10)), activities)
    ended = RolloutResult.from_dict(result.output)
    assert ended.status is RolloutStatus.FAILED and "IoT Hub answered 503" in ended.reason
    assert [name for name, _ in result.calls].count(RolloutActivity.JUDGE_RING) == 2
    assert scenario.versions() == {"1": 40}  # this version's configuration deleted: the fleet stays on 1
