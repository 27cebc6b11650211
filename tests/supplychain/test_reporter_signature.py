"""The fleet reporter's image is signature-checked before a rollout like the model's (``RolloutService`` with the
real ``signature_check``): an unsigned reporter in the prod registry stops the rollout before any device is
targeted; once the factory's key signs it, the rings run it. Real registries on loopback, real keys."""

from __future__ import annotations

import pytest

from contract import RolloutStatus
from factory.adapters.local.fleet import SimulatedFleet
from factory.adapters.local.fleet_runtime import SimulatedRuntime
from factory.adapters.local.signing import LocalKeySigner
from factory.rollout.fleet import REPORTER_SUFFIX
from factory.rollout.service import RolloutService
from factory.rollout.spec import Ring, RolloutSpec
from factory.supplychain.cosign import sign_image
from factory.supplychain.oci import Registry
from factory.supplychain.policy import signature_check
from factory.supplychain.sign_module import sign_module
from function_app.rollout import handlers
from orchestrations.fleet_rollout import fleet_rollout
from tests.edge.replay import run_orchestrator
from tests.packaging.helpers import push_tiny_image
from tests.supplychain.helpers import Registries

SPEC = RolloutSpec(fleet="tags.site = 'a'", rings=(Ring("all", 100),))


def _rollout(registries: Registries, signer: LocalKeySigner, reporter: str, runtime: SimulatedRuntime) -> dict:
    model = push_tiny_image(registries.prod_host, "models/tiny", "v2", payload=b"model v2")
    sign_image(Registry(registries.prod_host), "models/tiny", model, signer)
    fleet = SimulatedFleet(runtime)
    fleet.add_device("dev-000", "amd64", {"site": "a"})
    service = RolloutService(fleet, lambda _m: SPEC, reporter_image=reporter,
                             image_check=signature_check(signer.public_key_pem(), Registry))
    result = run_orchestrator(fleet_rollout, {"run_id": "run-2", "model": "tiny", "version": "2",
                                              "image": f"{registries.prod_host}/models/tiny@{model}"},
                              handlers(service))
    return {"output": result.output, "fleet": fleet}


def test_an_unsigned_reporter_stops_the_rollout_before_any_device_is_targeted(registries, signer):
    digest = push_tiny_image(registries.prod_host, "model-factory/fleet-reporter", "1", payload=b"reporter")
    reporter = f"{registries.prod_host}/model-factory/fleet-reporter@{digest}"
    runtime = SimulatedRuntime("tiny", lambda *_: pytest.fail("no device may be targeted"))
    ran = _rollout(registries, signer, reporter, runtime)
    assert ran["output"]["status"] == RolloutStatus.FAILED.value  # refused: a rollout that never started
    reason = ran["output"]["reason"]
    assert reason.startswith("not rolling out ") and f"its fleet reporter {reporter}: " in reason
    assert "not signed by key" in reason
    assert ran["fleet"].configurations == {} and runtime.applies == 0


def test_a_signed_reporter_runs_beside_the_model_in_every_ring(registries, signer):
    from tests.edge.test_iothub_fleet import signals

    digest = push_tiny_image(registries.prod_host, "model-factory/fleet-reporter", "1", payload=b"reporter")
    reporter = f"{registries.prod_host}/model-factory/fleet-reporter@{digest}"
    assert sign_module(reporter, signer, Registry)  # what an operator runs for the Azure reporter
    assert not sign_module(reporter, signer, Registry)  # idempotent: the signature is there
    ran = _rollout(registries, signer, reporter, SimulatedRuntime("tiny", lambda *_: signals(10.0)))
    assert ran["output"]["status"] == RolloutStatus.COMPLETED.value, ran["output"]
    desired = ran["fleet"].devices["dev-000"].desired
    assert desired["$edgeAgent"]["modules"]["tiny" + REPORTER_SUFFIX]["settings"]["image"] == reporter
    assert desired["tiny" + REPORTER_SUFFIX]["factory"]["version"] == "2"


def test_sign_module_refuses_a_reference_without_a_digest(registries, signer):
    with pytest.raises(ValueError, match="expected an image pinned by digest"):
        sign_module(f"{registries.prod_host}/model-factory/fleet-reporter:1", signer, Registry)


def test_sign_module_says_why_in_one_line_without_a_key_or_a_registry(tmp_path, monkeypatch, capsys):
    from factory.adapters.local.host import free_port
    from factory.adapters.local.signing import ensure_key_pair
    from factory.backends import services
    from factory.supplychain.sign_module import main

    monkeypatch.setenv("FACTORY_STATE_DIR", str(tmp_path))
    services.cache_clear()  # the process-wide services another test made read another state folder
    try:
        image = f"127.0.0.1:{free_port()}/model-factory/fleet-reporter@sha256:{'a' * 64}"
        assert main([image]) == 2  # no key pair yet
        assert "signing key" in capsys.readouterr().err
        keys = tmp_path / "keys"
        ensure_key_pair(keys / "signing.key", keys / "signing.pub")
        assert main([image]) == 2  # a registry nobody answers on
        err = capsys.readouterr().err
        assert err.startswith("sign_module: ") and "Traceback" not in err
    finally:
        services.cache_clear()  # none of this test's services outlive it
