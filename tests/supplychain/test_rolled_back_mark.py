"""A rolled-back version's prod image stays in prod, marked: the rollout's finish step signs a ``rolled-back``
statement into the image's attestations in the prod registry (a real Distribution on loopback), once however
often it is retried; ``verify`` shows the mark beside an intact chain; a registry that cannot be reached fails
the step (the activity is retried) after production already went back."""

from __future__ import annotations

import pytest

from contract import RolloutRequest, RolloutResult, RolloutStatus
from factory.adapters.local.fleet import SimulatedFleet
from factory.adapters.local.fleet_runtime import Outcome, SimulatedRuntime
from factory.adapters.local.host import free_port
from factory.adapters.local.registry import LocalImageRegistry
from factory.rollout.fleet import LABEL_MODEL, LABEL_VERSION, LayeredDeployment, layered_content
from factory.rollout.service import RolloutService
from factory.rollout.spec import AbortBounds, Ring, RolloutSpec
from factory.supplychain import statements
from factory.supplychain.chain import render, verify
from factory.supplychain.cosign import PREDICATE_ANNOTATION, attestation_tag
from factory.supplychain.oci import OciError, Registry
from factory.supplychain.steps import RollbackMarker
from tests.supplychain.test_chain import REPO, approve, built, promote, tags

SPEC = RolloutSpec("tags.site = 'a'", (Ring("all", 100),), AbortBounds())


class ModelRegistryProduction:
    """The production pointer of one model, as the model registry keeps it (what ``finish`` moves back)."""

    def __init__(self, version: str) -> None:
        self.production = version

    def mark_production(self, name: str, version: str) -> None:
        self.production = version


def service(marker: RollbackMarker, production: ModelRegistryProduction) -> RolloutService:
    fleet = SimulatedFleet(SimulatedRuntime("tiny", lambda d, a, v: Outcome()))
    fleet.add_device("edge-1", "amd64", {"site": "a"})
    fleet.create_deployment(LayeredDeployment(  # version 1 runs on the fleet: the rollback's previous version
        "mf-tiny-v1-all", "tags.site = 'a'", 1, layered_content("tiny", "tiny", "1", "r/tiny@sha256:" + "1" * 64, "r1"),
        {LABEL_MODEL: "tiny", LABEL_VERSION: "1"}))
    return RolloutService(fleet, lambda model: SPEC, registry=production, marker=marker, clock=lambda: 1_800_000_000)


def rolled_back(plan) -> RolloutResult:
    return RolloutResult(plan.run_id, plan.model, plan.version, RolloutStatus.ROLLED_BACK,
                         reason="ring all: p95_regression 2 (bound 0.5)", previous_version="1")


def test_a_rolled_back_image_stays_in_prod_marked_once_and_verify_shows_the_mark(registries, signer):
    image = built(registries, signer)
    approve(signer, image, version="2")
    prod = promote(registries, signer, image, version="2")
    production = ModelRegistryProduction("2")
    rollout = service(RollbackMarker(signer, LocalImageRegistry(registries.dev_host, registries.prod_host)),
                      production)
    plan = rollout.plan(RolloutRequest("run-2", "tiny", "2", str(prod)))
    assert not plan.refused and plan.previous_version == "1", plan
    before = tags(registries.prod_host)
    for _ in range(2):  # a retried activity marks it again: still one statement
        rollout.finish(plan, rolled_back(plan))
    assert production.production == "1"
    assert tags(registries.prod_host) == before  # no tag added or moved: the image stays where it was
    att = Registry(registries.prod_host).manifest(REPO, attestation_tag(image.digest))
    kinds = [layer["annotations"][PREDICATE_ANNOTATION] for layer in att.json()["layers"]]
    assert kinds.count(statements.ROLLED_BACK) == 1
    report = verify(f"{registries.prod_host}/{REPO}:v2", signer.public_key_pem(), Registry)
    assert report.ok, report.broken  # the chain itself is intact
    mark = report.predicate(statements.ROLLED_BACK)
    assert (mark["run_id"], mark["version"], mark["previous_version"], mark["rolled_back_at"]) == (
        "run-2", "2", "1", "2027-01-15T08:00:00+00:00")
    assert "MARKED  rolled back   by run run-2" in render(report) and "back to version 1" in render(report)


def test_a_completed_rollout_leaves_no_mark(registries, signer):
    image = built(registries, signer)
    approve(signer, image, version="2")
    prod = promote(registries, signer, image, version="2")
    rollout = service(RollbackMarker(signer, LocalImageRegistry(registries.dev_host, registries.prod_host)),
                      ModelRegistryProduction("2"))
    plan = rollout.plan(RolloutRequest("run-2", "tiny", "2", str(prod)))
    rollout.finish(plan, RolloutResult(plan.run_id, plan.model, plan.version, RolloutStatus.COMPLETED))
    report = verify(str(prod), signer.public_key_pem(), Registry)
    assert report.ok and not report.predicate(statements.ROLLED_BACK) and "MARKED" not in render(report)


def test_an_unreachable_prod_registry_fails_the_step_after_production_went_back(signer):
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    production = ModelRegistryProduction("2")
    rollout = service(RollbackMarker(signer, LocalImageRegistry(dead, dead)), production)
    plan = rollout.plan(RolloutRequest("run-2", "tiny", "2", f"{dead}/{REPO}:v2@sha256:" + "a" * 64))
    with pytest.raises(OciError, match="Connection refused"):
        rollout.finish(plan, rolled_back(plan))
    assert production.production == "1"  # the retried activity marks the image; production is back already
