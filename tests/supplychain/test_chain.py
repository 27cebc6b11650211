"""The chain on real registries (Distribution on loopback) with real images: signed and attested images
verify link by link; promotion refuses an unsigned image, a foreign key's, one without an approval of exactly
its digest, and corrupt or oversized attachments (no crash); another image copied over a prod tag fails
``verify``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contract import SmokeVerdict
from factory.adapters.local.registry import LocalImageRegistry, manifest_digest
from factory.adapters.local.signing import LocalKeySigner
from factory.ports import ImageRef, ScoringCheck
from factory.supplychain import statements
from factory.supplychain.chain import verify
from factory.supplychain.cosign import (
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    Layer,
    attestation_tag,
    key_id,
    put_layers,
    signature_tag,
)
from factory.supplychain.oci import OCI_MANIFEST, Registry
from factory.supplychain.steps import (
    PromotionRefused,
    attest_approval,
    attest_statement,
    promote_signed,
    sign_build,
)
from tests.packaging.helpers import push_tiny_image
from tests.supplychain.helpers import Registries

REPO = "models/tiny"
LOCK = Path(__file__).resolve().parents[2] / "modelkit" / "environments" / "sklearn" / "requirements.lock"
CHECK = ScoringCheck(request={"data": [[1, 2]]}, expected=[3.0])
LOCAL = LocalImageRegistry()  # its artifacts(host) is the OCI client on the host an image reference names


def facts(version: str = "1") -> statements.BuildFacts:
    return statements.BuildFacts(model="tiny", version=version, run_id="run-1", repository=REPO,
                                 source_commit="0123456789abcdef0123456789abcdef01234567", data_uri="http://blob/d.csv",
                                 data_sha256="ab" * 32, training_job="job-7", lock_sha256="cd" * 32,
                                 arches=["amd64", "arm64"])


def built(reg: Registries, signer: LocalKeySigner, payload: bytes = b"model bytes", tag: str = "run-1") -> ImageRef:
    digest = push_tiny_image(reg.dev_host, REPO, tag, payload=payload)
    image = ImageRef(reg.dev_host, REPO, digest=digest)
    sign_build(signer, LOCAL, image, facts(), CHECK, "amd64: ok; arm64: ok", LOCK)
    return image


EDGE_PASS = SmokeVerdict.from_dict({"status": "pass", "cases": 1, "p50_ms": 2.0, "p95_ms": 3.5,
                                     "devices": [{"device": "edge-amd64", "arch": "amd64", "status": "pass"},
                                                 {"device": "edge-arm64", "arch": "arm64", "status": "pass"}]})


def approve(signer: LocalKeySigner, image: ImageRef, digest: str = "", version: str = "1") -> None:
    attest_statement(signer, LOCAL, image, statements.EDGE_SMOKE,
                     statements.edge_smoke("run-1", "tiny", version, EDGE_PASS))
    attest_approval(signer, LOCAL, image, statements.approval("run-1", "tiny", version, digest or image.digest,
                                                       "ana@example.com", "2026-12-07T03:00:00+00:00", "approve"))


def promote(reg: Registries, signer: LocalKeySigner, image: ImageRef, version: str = "1") -> ImageRef:
    return promote_signed(signer, LocalImageRegistry(reg.dev_host, reg.prod_host), image, REPO, f"v{version}", version)


def tags(registry: str) -> list[str]:
    import urllib.request

    with urllib.request.urlopen(f"http://{registry}/v2/{REPO}/tags/list") as resp:
        return sorted(json.load(resp).get("tags") or [])


def test_signed_approved_image_is_promoted_with_its_chain_and_verifies_in_prod(registries, signer):
    image = built(registries, signer)
    approve(signer, image)
    prod = promote(registries, signer, image)
    assert prod.digest == image.digest
    assert tags(registries.prod_host) == sorted([attestation_tag(image.digest), signature_tag(image.digest), "v1"])
    report = verify(f"{registries.prod_host}/{REPO}:v1", signer.public_key_pem(), Registry)
    assert report.ok, report.broken
    assert [link.name for link in report.links] == ["image", "signature", "provenance", "verification", "sbom",
                                                    "edge", "approval"]
    details = {link.name: link.detail for link in report.links}
    assert f"signed as {registries.prod_host}/{REPO}" in details["signature"]
    assert "0123456789abcdef" in details["provenance"] and "ab" * 32 in details["provenance"]
    assert "job-7" in details["provenance"]
    assert "ana@example.com" in details["approval"] and "amd64, arm64" in details["verification"]
    assert details["edge"] == "smoke test passed (amd64 pass, arm64 pass), p95 3.5 ms"
    pins = [line for line in LOCK.read_text().splitlines() if "==" in line and not line.startswith("#")]
    assert details["sbom"].startswith(f"{len(pins)} Python packages")  # one SPDX package per pin of the lock


def test_unsigned_image_is_not_promoted(registries, signer):
    digest = push_tiny_image(registries.dev_host, REPO, "run-1")
    image = ImageRef(registries.dev_host, REPO, digest=digest)
    approve(signer, image)
    with pytest.raises(PromotionRefused, match="signature: no signature"):
        promote(registries, signer, image)
    assert manifest_digest(registries.prod_host, REPO, "v1") is None


def test_image_signed_with_a_foreign_key_is_not_promoted(registries, signer, foreign_signer):
    image = built(registries, foreign_signer)
    approve(foreign_signer, image)
    with pytest.raises(PromotionRefused, match="signature: no signature .* by the factory's key") as refused:
        promote(registries, signer, image)
    assert "approval: no signed approval attestation" in str(refused.value)
    assert "not signed by the factory's key" in str(refused.value)
    assert manifest_digest(registries.prod_host, REPO, "v1") is None


def test_image_without_approval_attestation_is_not_promoted(registries, signer):
    image = built(registries, signer)
    with pytest.raises(PromotionRefused, match="approval: no signed approval attestation"):
        promote(registries, signer, image)
    assert manifest_digest(registries.prod_host, REPO, "v1") is None


def test_image_whose_edge_smoke_test_failed_or_was_not_attested_is_not_promoted(registries, signer):
    image = built(registries, signer)
    attest_approval(signer, LOCAL, image, statements.approval("run-1", "tiny", "1", image.digest, "ana@example.com",
                                                       "2026-12-07T03:00:00+00:00", "approve"))
    with pytest.raises(PromotionRefused, match="edge: no signed passing edge smoke attestation"):
        promote(registries, signer, image)
    attest_statement(signer, LOCAL, image, statements.EDGE_SMOKE, statements.edge_smoke(
        "run-1", "tiny", "1", SmokeVerdict.from_dict({"status": "fail", "reason": "case 1: expected 1, got 2"})))
    with pytest.raises(PromotionRefused, match="edge: edge smoke test fail: case 1: expected 1, got 2"):
        promote(registries, signer, image)
    assert manifest_digest(registries.prod_host, REPO, "v1") is None


@pytest.mark.parametrize(("edge", "approval"), [
    ({"status": ["pass"], "devices": "all"}, {"digest": {"sha256": 1}, "decision": "approve"}),
    ({"status": "pass", "devices": ["amd64", 3, None]}, {"decision": ["approve"], "version": None}),
    ({"status": "pass", "devices": [{"arch": "arm64", "status": "melted"}]}, {"approver": {"x": 1}}),
])
def test_predicates_of_another_shape_are_broken_links_not_crashes(registries, signer, edge, approval):
    """Signed by the factory's key but not of the shape the factory writes (a bug, or a key used elsewhere):
    each is read as a record or not at all, and the chain says which link is broken."""
    image = built(registries, signer)
    attest_statement(signer, LOCAL, image, statements.EDGE_SMOKE, edge)
    attest_statement(signer, LOCAL, image, statements.APPROVAL, approval)
    report = verify(f"{registries.dev_host}/{REPO}@{image.digest}", signer.public_key_pem(), LOCAL.artifacts)
    broken = {link.name for link in report.broken}
    assert "approval" in broken and not report.ok, report.links
    with pytest.raises(PromotionRefused, match="approval: "):
        promote(registries, signer, image)


def test_approval_of_another_digest_or_version_is_not_promoted(registries, signer):
    image = built(registries, signer)
    approve(signer, image, digest="sha256:" + "0" * 64)
    with pytest.raises(PromotionRefused, match="approval attestation is for sha256:000"):
        promote(registries, signer, image)
    approve(signer, image, version="2")
    with pytest.raises(PromotionRefused, match="approval is for version 2, not 1"):
        promote(registries, signer, image)
    assert manifest_digest(registries.prod_host, REPO, "v1") is None


def test_corrupt_signature_and_attestation_blobs_are_refused_without_a_crash(registries, signer):
    image = built(registries, signer)
    approve(signer, image)
    dev = Registry(registries.dev_host)
    put_layers(dev, REPO, signature_tag(image.digest),
                [Layer(b"\xff not json", SIMPLE_SIGNING, {SIGNATURE_ANNOTATION: "%%% not base64"})])
    put_layers(dev, REPO, attestation_tag(image.digest),
                [Layer(b'{"payloadType": "application/vnd.in-toto+json", "payload": "!!"}',
                       "application/vnd.dsse.envelope.v1+json", {"predicateType": statements.APPROVAL})])
    with pytest.raises(PromotionRefused) as refused:
        promote(registries, signer, image)
    assert "signature: no signature" in str(refused.value)
    assert "attestation payload: not base64" in str(refused.value)
    assert manifest_digest(registries.prod_host, REPO, "v1") is None


def test_oversized_attachment_blob_is_refused_without_reading_it_all(registries, signer):
    image = built(registries, signer)
    approve(signer, image)
    big = Layer(b"x" * (1024 * 1024 + 1), SIMPLE_SIGNING, {SIGNATURE_ANNOTATION: "AAAA"})
    put_layers(Registry(registries.dev_host), REPO, signature_tag(image.digest), [big])
    with pytest.raises(PromotionRefused, match="over the limit of 1048576"):
        promote(registries, signer, image)
    assert manifest_digest(registries.prod_host, REPO, "v1") is None


def test_attachment_manifest_with_too_many_layers_is_refused(registries, signer):
    image = built(registries, signer)
    approve(signer, image)
    layers = [Layer(b"{}%d" % i, SIMPLE_SIGNING, {}) for i in range(33)]
    put_layers(Registry(registries.dev_host), REPO, signature_tag(image.digest), layers)
    with pytest.raises(PromotionRefused, match="33 layers, over 32"):
        promote(registries, signer, image)


def test_another_image_copied_over_a_prod_tag_fails_verify_naming_the_signature(registries, signer):
    image = built(registries, signer)
    approve(signer, image)
    promote(registries, signer, image)
    other = push_tiny_image(registries.prod_host, REPO, "v1", payload=b"other bytes")  # pushed over the tag
    report = verify(f"{registries.prod_host}/{REPO}:v1", signer.public_key_pem(), Registry)
    assert not report.ok
    assert report.digest == other
    assert report.broken[0].name == "signature"
    assert {link.name for link in report.broken} == {"signature", "provenance", "verification", "sbom", "edge",
                                                     "approval"}


def test_a_signed_image_of_another_repository_copied_over_a_tag_fails_verify(registries, signer):
    image = built(registries, signer)
    approve(signer, image)
    promote(registries, signer, image)
    elsewhere = Registry(registries.prod_host)
    # the same signed bytes and signature under another repository's name: the identity does not match
    manifest = Registry(registries.dev_host).manifest(REPO, image.digest)
    assert manifest is not None
    for blob in [json.loads(manifest.body)["config"], *json.loads(manifest.body)["layers"]]:
        elsewhere.put_blob("models/other", Registry(registries.dev_host).blob(REPO, blob["digest"]))
    elsewhere.put_manifest("models/other", "v1", manifest.body, OCI_MANIFEST)
    from factory.supplychain.cosign import copy_attachments

    copy_attachments(Registry(registries.prod_host), REPO, elsewhere, "models/other", image.digest)
    report = verify(f"{registries.prod_host}/models/other:v1", signer.public_key_pem(), Registry)
    assert report.broken[0].name == "signature"
    assert f"not {registries.prod_host}/models/other" in report.broken[0].detail


def test_verify_by_digest_and_tag_refuses_a_tag_that_moved(registries, signer):
    image = built(registries, signer)
    approve(signer, image)
    promote(registries, signer, image)
    push_tiny_image(registries.prod_host, REPO, "v1", payload=b"moved")
    report = verify(f"{registries.prod_host}/{REPO}:v1@{image.digest}", signer.public_key_pem(), Registry)
    assert [link.name for link in report.broken] == ["image"]
    assert "not " + image.digest in report.broken[0].detail


def test_signing_and_attesting_again_is_idempotent(registries, signer):
    image = built(registries, signer)
    dev = Registry(registries.dev_host)
    sig_before = dev.manifest(REPO, signature_tag(image.digest))
    att_before = dev.manifest(REPO, attestation_tag(image.digest))
    sign_build(signer, LOCAL, image, facts(), CHECK, "amd64: ok; arm64: ok", LOCK)
    assert dev.manifest(REPO, signature_tag(image.digest)) == sig_before
    att_after = dev.manifest(REPO, attestation_tag(image.digest))
    assert att_before is not None and att_after is not None
    assert len(att_after.json()["layers"]) == len(att_before.json()["layers"]) == 3


def test_signing_reports_the_key_the_references_and_each_attestations_envelope_digest(registries, signer):
    digest = push_tiny_image(registries.dev_host, REPO, "run-1", payload=b"facts")
    image = ImageRef(registries.dev_host, REPO, digest=digest)
    made = sign_build(signer, LOCAL, image, facts(), CHECK, "amd64: ok", LOCK, model_digest="sha256:ab")
    name = f"{registries.dev_host}/{REPO}"
    assert made.key_id == key_id(signer.public_key_pem()) and made.signed_as == name
    assert made.signature_ref == f"{name}:{signature_tag(digest)}" and made.model_digest == "sha256:ab"
    att = Registry(registries.dev_host).manifest(REPO, attestation_tag(digest))
    assert att is not None
    stored = {layer["annotations"]["predicateType"]: layer["digest"] for layer in att.json()["layers"]}
    assert {a.predicate_type: a.envelope_digest for a in made.attestations} == stored
    assert set(stored) == {statements.PROVENANCE, statements.VERIFICATION, statements.SBOM}
    edge = attest_statement(signer, LOCAL, image, statements.EDGE_SMOKE,
                            statements.edge_smoke("run-1", "tiny", "1", EDGE_PASS))
    att = Registry(registries.dev_host).manifest(REPO, attestation_tag(digest))
    assert att is not None and edge in [layer["digest"] for layer in att.json()["layers"]]
