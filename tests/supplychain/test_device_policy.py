"""The devices' pull policy (containers-policy.json, ``factory.supplychain.policy``) and the same verifier at the
three places that refuse a bad prod image: ``verify``, a device's pull check, and the rollout (before any
device is targeted). Real registries on loopback, real keys; the device itself is in
``tests/edge/test_device_policy_simulator.py``."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from contract import RolloutStatus
from factory.adapters.local.fleet import SimulatedFleet
from factory.adapters.local.fleet_runtime import SimulatedRuntime
from factory.adapters.local.signing import LocalKeySigner
from factory.rollout.service import RolloutService
from factory.rollout.spec import Ring, RolloutSpec
from factory.supplychain.chain import verify
from factory.supplychain.cosign import (
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    Layer,
    key_id,
    put_layers,
    sign_image,
    signature_tag,
)
from factory.supplychain.oci import Registry
from factory.supplychain.policy import (
    PolicyError,
    PullPolicy,
    PullRefused,
    check_pull,
    require_signature,
    signature_check,
    write_policy,
)
from function_app.rollout import handlers
from orchestrations.fleet_rollout import fleet_rollout
from tests.edge.replay import run_orchestrator
from tests.packaging.helpers import push_tiny_image
from tests.supplychain.helpers import Registries

REPO = "models/tiny"


def device_policy(tmp_path: Path, reg: Registries, signer: LocalKeySigner) -> PullPolicy:
    path = tmp_path / "policy.json"
    write_policy(path, signer.public_key, [reg.prod_host])
    return PullPolicy.load(path)


def signed_prod_image(reg: Registries, signer: LocalKeySigner, payload: bytes = b"model v1") -> str:
    digest = push_tiny_image(reg.prod_host, REPO, "v1", payload=payload)
    sign_image(Registry(reg.prod_host), REPO, digest, signer)
    return digest


def rollout(image: str, signer: LocalKeySigner) -> tuple[RolloutStatus, str, SimulatedFleet]:
    runtime = SimulatedRuntime("tiny", lambda *_: pytest.fail("no device may run an image whose signature failed"))
    fleet = SimulatedFleet(runtime)
    fleet.add_device("dev-000", "amd64", {"site": "a"})
    spec = RolloutSpec(fleet="tags.site = 'a'", rings=(Ring("all", 100),))
    service = RolloutService(fleet, lambda _m: spec, image_check=signature_check(signer.public_key_pem(), Registry))
    result = run_orchestrator(fleet_rollout, {"run_id": "run-2", "model": "tiny", "version": "2", "image": image},
                              handlers(service))
    return RolloutStatus(result.output["status"]), str(result.output.get("reason", "")), fleet


def edge_stage(image: str, signer: LocalKeySigner) -> dict:
    """The run's edge stage (``edge_pool_smoke``) with its real ``edge_devices`` plan over a one-device pool; a
    refused image ends it before any device's smoke test (a sub-orchestration the replay would not run)."""
    from contract import Activity, EdgePlanRequest, EdgeSmokeRequest
    from factory.adapters.local.registry import LocalImageRegistry
    from factory.edge.pool import plan
    from factory.settings import Settings
    from orchestrations.edge_pool import edge_pool_smoke

    settings = Settings.from_env({"FACTORY_EDGE_DEVICES": "sim-amd64=amd64@http://127.0.0.1:9"})
    check = signature_check(signer.public_key_pem(), Registry)
    devices = {Activity.EDGE_DEVICES.value: lambda req: plan(settings, EdgePlanRequest.from_dict(req).image,
                                                             LocalImageRegistry().manifest, check).to_dict()}
    result = run_orchestrator(edge_pool_smoke, EdgeSmokeRequest("run-2", "tiny", image).to_dict(), devices)
    return result.output


def test_a_signed_prod_image_is_pulled_by_the_digest_its_signature_names(tmp_path, registries, signer):
    digest = signed_prod_image(registries, signer)
    check = signature_check(signer.public_key_pem(), Registry)
    assert check(f"{registries.prod_host}/{REPO}:v1") == ""
    from factory.adapters.local.registry import LocalImageRegistry
    from factory.edge.pool import plan
    from factory.settings import Settings

    pool = Settings.from_env({"FACTORY_EDGE_DEVICES": "sim-amd64=amd64@http://127.0.0.1:9"})
    chosen = plan(pool, f"{registries.prod_host}/{REPO}@{digest}", LocalImageRegistry().manifest, check)
    assert chosen.refused == "" and [d.device for d in chosen.devices] == ["sim-amd64"]
    policy = device_policy(tmp_path, registries, signer)
    pinned = f"{registries.prod_host}/{REPO}@{digest}"
    assert check_pull(policy, f"{registries.prod_host}/{REPO}:v1", Registry) == pinned
    assert check_pull(policy, pinned, Registry) == pinned
    # outside the signed scope (the dev registry, local images) the default accepts, unread
    unread = f"{registries.dev_host}/smoke@sha256:{'0' * 64}"
    assert check_pull(policy, unread, Registry) == unread
    assert check_pull(policy, "localhost/mf-test:1", Registry) == "localhost/mf-test:1"


@pytest.mark.parametrize("case", ["copied over the tag", "foreign key"])
def test_a_bad_prod_image_is_refused_by_verify_the_device_and_the_rollout(tmp_path, registries, signer,
                                                                          foreign_signer, case):
    signed_prod_image(registries, signer)
    if case == "copied over the tag":
        bad = push_tiny_image(registries.prod_host, REPO, "v1", payload=b"other bytes")
    else:
        bad = push_tiny_image(registries.prod_host, REPO, "v1", payload=b"foreign bytes")
        sign_image(Registry(registries.prod_host), REPO, bad, foreign_signer)
    ref = f"{registries.prod_host}/{REPO}:v1"
    factory_key = key_id(signer.public_key_pem())

    report = verify(ref, signer.public_key_pem(), Registry)
    assert report.digest == bad and report.broken[0].name == "signature"

    with pytest.raises(PullRefused) as refused:
        check_pull(device_policy(tmp_path, registries, signer), ref, Registry)
    assert str(refused.value) == f"{registries.prod_host}/{REPO}@{bad}: not signed by key {factory_key} for " \
                                 f"{registries.prod_host}/{REPO}"

    status, reason, fleet = rollout(ref, signer)
    assert status == RolloutStatus.FAILED
    assert reason.startswith(f"not rolling out {ref}:") and bad in reason and factory_key in reason
    assert fleet.configurations == {}  # no ring was created, no device targeted

    verdict = edge_stage(ref, signer)  # the smoke stage: no device leased or deployed to
    assert verdict["status"] == "fail" and verdict["reason"].startswith("not targeting a device: ")
    assert factory_key in verdict["reason"] and verdict["devices"] == []


def test_a_signature_of_another_repository_is_refused(tmp_path, registries, signer):
    digest = signed_prod_image(registries, signer)
    other = Registry(registries.prod_host)
    manifest = other.manifest(REPO, digest)
    assert manifest is not None
    for blob in [json.loads(manifest.body)["config"], *json.loads(manifest.body)["layers"]]:
        other.put_blob("models/other", other.blob(REPO, blob["digest"]))
    other.put_manifest("models/other", "v1", manifest.body, manifest.media_type)
    from factory.supplychain.cosign import copy_attachments

    copy_attachments(other, REPO, other, "models/other", digest)
    with pytest.raises(PullRefused, match=f"signed by that key for {registries.prod_host}/{REPO}\\)"):
        check_pull(device_policy(tmp_path, registries, signer), f"{registries.prod_host}/models/other:v1", Registry)


@pytest.mark.parametrize("blob,why", [
    (Layer(b"\xff not json", SIMPLE_SIGNING, {SIGNATURE_ANNOTATION: "%%% not base64"}), "not signed by key"),
    (Layer(b"x" * (1024 * 1024 + 1), SIMPLE_SIGNING, {SIGNATURE_ANNOTATION: "AAAA"}), "over the limit of 1048576"),
], ids=["corrupt", "oversized"])
def test_a_corrupt_or_oversized_signature_blob_is_refused_without_a_crash(tmp_path, registries, signer, blob, why):
    digest = signed_prod_image(registries, signer)
    put_layers(Registry(registries.prod_host), REPO, signature_tag(digest), [blob])
    ref = f"{registries.prod_host}/{REPO}@{digest}"
    with pytest.raises(PullRefused, match=why):
        check_pull(device_policy(tmp_path, registries, signer), ref, Registry)
    with pytest.raises(PullRefused, match=why):
        require_signature(ref, signer.public_key_pem(), Registry)
    status, reason, _ = rollout(ref, signer)
    assert status == RolloutStatus.FAILED and why.split(" of ")[0] in reason
    assert why.split(" of ")[0] in edge_stage(ref, signer)["reason"]


def test_a_missing_image_and_an_unreachable_registry_are_refused_by_name(tmp_path, registries, signer):
    policy = device_policy(tmp_path, registries, signer)
    with pytest.raises(PullRefused, match="no such image"):
        check_pull(policy, f"{registries.prod_host}/{REPO}:nope", Registry)
    closed = PullPolicy.parse(json.dumps({"default": [{"type": "sigstoreSigned", "keyPath": str(signer.public_key)}]})
                              .encode(), tmp_path)
    with pytest.raises(PullRefused, match="cannot read its manifest"):
        check_pull(closed, f"127.0.0.1:9/{REPO}:v1", Registry)


def test_policy_scopes_most_specific_first_and_reject(tmp_path, signer):
    key = {"type": "sigstoreSigned", "keyData": base64.b64encode(signer.public_key_pem()).decode()}
    policy = PullPolicy.parse(json.dumps({"default": [{"type": "reject"}], "transports": {"docker": {
        "reg:5000": [{"type": "insecureAcceptAnything"}], "reg:5000/models": [key],
        "reg:5000/models/tiny:dev": [{"type": "insecureAcceptAnything"}]}}}).encode(), tmp_path)
    assert policy.requirements("reg:5000", "models/tiny", "v1")[0].kind == "sigstoreSigned"
    assert policy.requirements("reg:5000", "models/tiny", "dev")[0].kind == "insecureAcceptAnything"
    assert policy.requirements("reg:5000", "smoke")[0].kind == "insecureAcceptAnything"
    assert policy.requirements("other:1", "models/tiny")[0].kind == "reject"
    with pytest.raises(PullRefused, match="rejects"):
        check_pull(policy, "other:1/models/tiny:v1", Registry)


@pytest.mark.parametrize("body,why", [
    (b"[1]", "expected a JSON object"),
    (b"{not json", "not JSON"),
    (b'{"default": []}', "non-empty list"),
    (b'{"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}', "not enforced here"),
    (b'{"default": [{"type": "insecureAcceptAnything"}], "transports": {"oci": {}}}', "only the docker transport"),
    (b'{"default": [{"type": "sigstoreSigned", "keyPath": "missing.pub"}]}', "No such file"),
    (b'{"default": [{"type": "sigstoreSigned", "keyData": "!!"}]}', "not base64"),
    (b'{"default": [{"type": "sigstoreSigned", "keyData": "aGVsbG8="}]}', "not a PEM public key"),
    (b'{"default": [{"type": "sigstoreSigned", "keyData": "aGVsbG8=", "fulcio": {}}]}', "not enforced here"),
    (b'{"default": [{"type": "sigstoreSigned", "keyPath": "k.pub", "signedIdentity": {"type": "remapIdentity"}}]}',
     "not enforced here"),
    (b'{"default": [{"type": "sigstoreSigned", "keyPath": "k.pub", "signedIdentity": {"type": "exactRepository"}}]}',
     "needs exactly dockerRepository"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_a_policy_the_verifier_cannot_enforce_fully_is_refused_at_load(tmp_path, signer, body, why):
    (tmp_path / "k.pub").write_bytes(signer.public_key_pem())
    with pytest.raises(PolicyError, match=why):
        PullPolicy.parse(body, tmp_path)


def test_an_oversized_policy_file_is_refused(tmp_path):
    path = tmp_path / "policy.json"
    path.write_bytes(b" " * (64 * 1024 + 1))
    with pytest.raises(PolicyError, match="over 65536 bytes"):
        PullPolicy.load(path)


def test_the_stack_gives_every_simulated_device_a_policy_requiring_the_factorys_key_for_prod(tmp_path):
    from factory.adapters.local.signing import ensure_key_pair
    from localstack.stack import LocalStack, StackPorts

    stack = LocalStack(tmp_path / "state", ports=StackPorts.free())
    ensure_key_pair(*stack.signing_key_paths())
    stack.write_device_policy()
    policy = PullPolicy.load(stack.device_policy_path())
    prod = f"127.0.0.1:{stack.ports.prod_registry}"
    (required,) = policy.requirements(prod, "models/wine-cultivar", "v3")
    assert required.kind == "sigstoreSigned" and required.identity == "matchRepository"
    assert required.public_pem == stack.signing_key_paths()[1].read_bytes()
    assert policy.requirements(f"127.0.0.1:{stack.ports.dev_registry}", "model-factory/smoketest")[0].kind == \
        "insecureAcceptAnything"
    simulators = [s for s in stack.services() if s.name.startswith("edge-simulator")]
    assert len(simulators) == 2
    assert all(s.argv[s.argv.index("--policy") + 1] == str(stack.device_policy_path()) for s in simulators)
