"""The chain in the run's activities: a missing or unusable signing key fails ``build_image`` before
anything is built or pushed, with a message naming the key; ``model-factory verify`` prints the chain and
exits 0, or 1 naming the broken link."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from cli.main import main
from contract import BuildRequest, SmokeVerdict
from factory.adapters.local.registry import LocalImageRegistry
from factory.backends import Services
from factory.ports import ImageRef, ScoringCheck, SigningKeyError
from factory.settings import Settings
from factory.steps import RunSteps
from factory.supplychain import statements
from factory.supplychain.steps import attest_approval, attest_statement, promote_signed, sign_build
from tests.packaging.helpers import push_tiny_image

ROOT = Path(__file__).resolve().parents[2]


def catalog(registry: str) -> list[str]:
    with urllib.request.urlopen(f"http://{registry}/v2/_catalog") as resp:
        return json.load(resp).get("repositories") or []


@pytest.mark.parametrize("problem", ["missing", "group-readable", "garbage", "unreadable"])
def test_build_fails_at_packaging_naming_the_key_and_pushes_nothing(tmp_path, registries, signer, problem):
    key = signer.private_key
    if problem == "missing":
        key.unlink()
    elif problem == "group-readable":
        key.chmod(0o640)
    elif problem == "unreadable":  # an OS error on read (the tests run as root, so a mode cannot stop a read)
        key.unlink()
        key.mkdir(mode=0o700)
    else:
        key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    settings = Settings.from_env({"FACTORY_ROOT": str(ROOT), "FACTORY_STATE_DIR": str(tmp_path / "state"),
                                  "FACTORY_SIGNING_KEY": str(key), "FACTORY_DEV_REGISTRY": registries.dev_host,
                                  "FACTORY_PROD_REGISTRY": registries.prod_host})
    steps = RunSteps(Services(settings))
    with pytest.raises(SigningKeyError, match=f"signing key {key}"):
        steps.build_image(BuildRequest(run_id="run-key", model="wine_cultivar", version="1",
                                       repository="models/wine-cultivar"))
    assert catalog(registries.dev_host) == []
    assert not (tmp_path / "state" / "runs" / "run-key").exists()  # failed before assembling anything


def test_verify_command_prints_the_chain_and_exits_1_naming_the_broken_link(registries, signer, capsys):
    digest = push_tiny_image(registries.dev_host, "models/tiny", "run-1", payload=b"verify me")
    image = ImageRef(registries.dev_host, "models/tiny", digest=digest)
    images = LocalImageRegistry(registries.dev_host, registries.prod_host)
    sign_build(signer, images, image, statements.BuildFacts(model="tiny", version="3", run_id="run-1",
                                                    repository="models/tiny", source_commit="c0ffee",
                                                    data_sha256="d" * 64, training_job="job-9", arches=["amd64"]),
               ScoringCheck(request=[1], expected=[2]), "amd64: ok",
               ROOT / "modelkit" / "environments" / "onnx" / "requirements.lock")
    attest_statement(signer, images, image, statements.EDGE_SMOKE, statements.edge_smoke(
        "run-1", "tiny", "3", SmokeVerdict.from_dict({"status": "pass", "p95_ms": 4.0})))
    attest_approval(signer, images, image, statements.approval("run-1", "tiny", "3", digest, "bo@example.com",
                                                       "2026-12-07T03:10:00+00:00", "approve"))
    promote_signed(signer, images, image, "models/tiny",
                   "v3", "3")
    ref = f"{registries.prod_host}/models/tiny:v3"
    assert main(["verify", ref, "--key", str(signer.public_key)]) == 0
    out = capsys.readouterr().out
    assert "signed as" in out and "c0ffee" in out and "job-9" in out and "bo@example.com" in out
    pins = (ROOT / "modelkit" / "environments" / "onnx" / "requirements.lock").read_text().count("==")
    assert "BROKEN" not in out and f"{pins} Python packages" in out
    attest_statement(signer, images, ImageRef(registries.prod_host, "models/tiny", digest=digest),
                     statements.EDGE_SMOKE,
                     statements.edge_smoke("run-1", "tiny", "3",
                                           SmokeVerdict.from_dict({"status": "fail", "reason": "case 1: got 3"})))
    assert main(["verify", ref, "--key", str(signer.public_key)]) == 1
    assert "broken link: edge: edge smoke test fail: case 1: got 3" in capsys.readouterr().out
    push_tiny_image(registries.prod_host, "models/tiny", "v3", payload=b"replaced")
    assert main(["verify", ref, "--key", str(signer.public_key)]) == 1
    assert "broken link: signature" in capsys.readouterr().out


def test_verify_command_without_a_key_says_where_it_looked(tmp_path, capsys):
    assert main(["verify", "127.0.0.1:1/models/x:v1", "--state-dir", str(tmp_path)]) == 2
    assert f"{tmp_path}/keys/signing.pub" in capsys.readouterr().err
