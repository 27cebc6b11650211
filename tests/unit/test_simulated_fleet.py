"""The simulated fleet implements IoT Hub's automatic deployments: target conditions over tags, priorities,
layered merges, system and custom metrics; and the query subset those use."""

from __future__ import annotations

import pytest

from contract import VersionSignals
from factory.adapters.local.fleet import MAX_CONFIGURATIONS, SimulatedFleet
from factory.adapters.local.fleet_runtime import Outcome, SimulatedRuntime
from factory.adapters.local.iothub_query import QueryError, compile_condition, where_clause
from factory.rollout.fleet import FleetError, LayeredDeployment, layered_content, version_metric

MODULE = "nyc-taxi"
IMAGE = "r/nyc-taxi@sha256:" + "a" * 64


def fleet(behaviour=None) -> SimulatedFleet:
    sim = SimulatedFleet(SimulatedRuntime(MODULE, behaviour or (lambda d, a, v: Outcome(
        signals=VersionSignals(requests=1)))))
    for i in range(6):
        sim.add_device(f"d{i}", "arm64" if i >= 4 else "amd64", {"site": "a" if i < 5 else "b", "bucket": i * 20})
    return sim


def layer(version: str, condition: str, priority: int, ident: str | None = None) -> LayeredDeployment:
    return LayeredDeployment(ident or f"v{version}", condition, priority,
                             layered_content("nyc_taxi", MODULE, version, IMAGE, "run"),
                             metrics={"onVersion": version_metric(MODULE, version)})


@pytest.mark.parametrize(("condition", "matches"), [
    ("tags.site = 'a'", {"d0", "d1", "d2", "d3", "d4"}),
    ("tags.site = 'a' AND tags.bucket >= 20 AND tags.bucket < 60", {"d1", "d2"}),
    ("(tags.site = 'b' OR tags.arch = 'arm64') AND NOT tags.bucket = 80", {"d5"}),
    ("tags.missing = 1", set()),
    ("IS_DEFINED(tags.bucket) AND deviceId != 'd0'", {"d1", "d2", "d3", "d4", "d5"}),
    ("*", {"d0", "d1", "d2", "d3", "d4", "d5"}),
    ("deviceId IN ['d1', 'd4', 'x'] AND tags.arch = 'arm64'", {"d4"}),
])
def test_target_conditions_select_twins_as_iot_hub_does(condition, matches):
    sim = fleet()
    check = compile_condition(condition)
    assert {d.device_id for d in sim.devices.values() if check(d.doc())} == matches


@pytest.mark.parametrize("condition", ["deviceId IN ['a'", "tags.site = ",
                                        "tags.site 'a'", "(tags.a = 1", "tags.a = 1 AND", "tags.a ~ 1"])
def test_a_malformed_condition_is_refused(condition):
    with pytest.raises(QueryError):
        compile_condition(condition)


def test_higher_priority_layer_wins_where_it_targets_and_the_lower_applies_elsewhere():
    sim = fleet()
    sim.create_deployment(layer("1", "tags.site = 'a'", 1))
    sim.create_deployment(layer("2", "tags.site = 'a' AND tags.bucket < 40", 2))
    reports = {r.device: r.version for r in sim.device_reports("tags.site = 'a'", MODULE)}
    assert reports == {"d0": "2", "d1": "2", "d2": "1", "d3": "1", "d4": "1"}
    assert sim.deployment_metrics("v1") == {"targetedCount": 5, "appliedCount": 3, "reportedSuccessfulCount": 3,
                                            "reportedFailedCount": 0, "onVersion": 3}
    assert sim.deployment_metrics("v2")["appliedCount"] == 2
    sim.delete_deployment("v2")  # the lower layer applies again
    assert {r.version for r in sim.device_reports("tags.site = 'a'", MODULE)} == {"1"}


def test_layers_merge_by_path_and_keep_the_base_content():
    sim = fleet()
    base = {"$edgeAgent": {"modules": {"other": {"settings": {"image": "x"}}}}}
    sim.devices["d0"].base = base
    sim.create_deployment(layer("1", "deviceId = 'd0'", 1))
    sim.sync()
    modules = sim.devices["d0"].desired["$edgeAgent"]["modules"]
    assert set(modules) == {"other", MODULE} and modules[MODULE]["settings"]["image"] == IMAGE
    assert sim.devices["d0"].desired[MODULE]["factory"]["version"] == "1"


def test_failed_modules_count_in_the_failed_system_metric():
    sim = fleet(lambda d, arch, v: Outcome(status="backoff") if arch == "arm64" else Outcome())
    sim.create_deployment(layer("1", "tags.site = 'a'", 1))
    metrics = sim.deployment_metrics("v1")
    assert (metrics["reportedSuccessfulCount"], metrics["reportedFailedCount"]) == (4, 1)


def test_disconnected_device_keeps_its_state_and_converges_on_return():
    sim = fleet()
    sim.create_deployment(layer("1", "*", 1))
    sim.sync()
    sim.set_connected("d3", False)
    sim.create_deployment(layer("2", "*", 2))
    assert {r.device: r.version for r in sim.device_reports("*", MODULE)}["d3"] == "1"
    sim.set_connected("d3", True)
    assert {r.device: r.version for r in sim.device_reports("*", MODULE)}["d3"] == "2"


def test_creating_is_idempotent_and_the_hub_limit_is_enforced():
    sim = fleet()
    sim.create_deployment(layer("1", "*", 1))
    sim.create_deployment(layer("1", "*", 5))  # same id: kept as it was
    assert sim.configurations["v1"][1].priority == 1
    for i in range(MAX_CONFIGURATIONS - 1):
        sim.create_deployment(layer("1", "*", 1, f"c{i}"))
    with pytest.raises(FleetError, match="100 configurations"):
        sim.create_deployment(layer("1", "*", 1, "one-too-many"))


def test_metric_queries_are_read_as_iot_hub_reads_them():
    assert where_clause(version_metric(MODULE, "3")) == (
        "devices.modules",
        f"moduleId IN ['{MODULE}', '{MODULE}-reporter'] AND properties.reported.factory.version = '3'")
    with pytest.raises(QueryError):
        where_clause("DELETE FROM devices")


def test_device_ids_are_packed_into_queries_under_the_size_limit_and_quoted_ids_left_out():
    from factory.rollout.fleet import QUERY_CHARS, id_chunks, pages

    ids = [f"plant-a-device-{i:05d}" for i in range(2000)] + ["o'brien"]
    chunks = id_chunks(ids)
    assert sum(len(c) for c in chunks) == 2000 and "o'brien" not in {i for c in chunks for i in c}
    assert all(len(", ".join(f"'{i}'" for i in c)) < QUERY_CHARS - 150 for c in chunks) and len(chunks) == 8
    assert (pages(0), pages(1000), pages(1001)) == (1, 1, 2)
