"""A real simulated device under the factory's pull policy (``--policy``, containers-policy.json): it runs a
prod image only once the factory's signature of that digest verifies, pulls it by that digest, and refuses a
re-tagged or foreign-key image at pull, reporting why in ``$edgeAgent`` (module ``failed``,
``statusDescription``). The verifier's other cases are in ``tests/supplychain/test_device_policy.py``."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from factory.adapters.local.edge import EdgeSimulatorDeployer
from factory.adapters.local.signing import LocalKeySigner
from factory.adapters.local.smoke_image import push_by_digest
from factory.edge.manifest import SmokeCase, SmokeDeployment, build_manifest, module_name
from factory.supplychain.cosign import key_id, sign_image
from factory.supplychain.oci import Registry
from factory.supplychain.policy import write_policy
from localstack.edge_simulator import main as simulator_main
from tests.supplychain.helpers import make_signer

from .conftest import RunningSimulator, _simulator

MODULE = module_name("test_model")


@pytest.fixture
def keys(tmp_path: Path) -> tuple[LocalKeySigner, LocalKeySigner]:
    return make_signer(tmp_path / "keys"), make_signer(tmp_path / "foreign")


@pytest.fixture
def policy_device(tmp_path: Path, registry: str, keys) -> Iterator[RunningSimulator]:
    """A device whose policy requires the factory's signature under ``<registry>/edge-test`` (the model images;
    the smoke module's repository is outside it)."""
    policy = tmp_path / "policy.json"
    write_policy(policy, keys[0].public_key, [f"{registry}/edge-test"])
    yield from _simulator(tmp_path / "edge-sim-policy", policy=policy)


def edge_agent(url: str) -> dict:
    with urllib.request.urlopen(url + "/modules/$edgeAgent/twin", timeout=30) as resp:
        return json.loads(resp.read())["reported"]


def deploy(url: str, model_image: str, smoke_image: str) -> dict:
    content = build_manifest(SmokeDeployment("run-sig", "test_model", model_image, smoke_image,
                                             [SmokeCase("c", {"data": [[1, 2]]}, {"predictions": [3.0]})]))
    EdgeSimulatorDeployer(url).apply(content["modulesContent"])
    return edge_agent(url)["modules"]


def repository_and_digest(ref: str) -> tuple[str, str]:
    name, _, digest = ref.partition("@")
    return name.split("/", 1)[1], digest


@pytest.mark.slow
def test_device_runs_only_images_the_factory_signed_for_their_repository(policy_device, registry, edge_images, keys):
    signer, foreign = keys
    good_repo, digest = repository_and_digest(edge_images.good_model)
    sign_image(Registry(registry), good_repo, digest, signer)
    sign_image(Registry(registry), *repository_and_digest(edge_images.wrong_model), foreign)
    copied = push_by_digest("localhost/mf-edge-test-model:wrong", registry, good_repo, tag="prod")  # over a tag
    factory_key = key_id(signer.public_key_pem())

    # another image copied over the tag (a rollout that read the tag pins its digest): refused at pull; the
    # smoke module (outside the signed scope) still runs
    modules = deploy(policy_device.url, copied, edge_images.smoke)
    assert modules[MODULE]["runtimeStatus"] == "failed" and modules[MODULE]["container"] == ""
    assert modules[MODULE]["statusDescription"] == (
        f"module {MODULE}: refused by the device's signature policy: {copied}: not signed by key {factory_key} "
        f"for {registry}/{good_repo}")
    assert modules["smoketest"]["runtimeStatus"] == "running"

    # signed, but by another key: refused
    modules = deploy(policy_device.url, edge_images.wrong_model, edge_images.smoke)
    assert modules[MODULE]["runtimeStatus"] == "failed"
    assert f"{edge_images.wrong_model}: not signed by key {factory_key}" in modules[MODULE]["statusDescription"]

    # the factory's signature: pulled and run by that digest
    modules = deploy(policy_device.url, edge_images.good_model, edge_images.smoke)
    assert modules[MODULE]["runtimeStatus"] == "running", modules
    assert modules[MODULE]["image"] == edge_images.good_model
    assert "statusDescription" not in modules[MODULE]


def test_a_simulator_with_a_policy_it_cannot_enforce_does_not_start(tmp_path: Path, capsys):
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "k.gpg"}]}))
    assert simulator_main(["--state-dir", str(tmp_path / "sim"), "--policy", str(policy)]) == 2
    assert "requirement type 'signedBy' is not enforced here" in capsys.readouterr().err
