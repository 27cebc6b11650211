"""The supply chain's registry port (``ArtifactStore``) on both backends: the local adapter against a real
loopback Distribution registry, the ACR adapter through the real ``azure-containerregistry`` client, azure-core
pipeline and ``RequestsTransport``, answered by an in-memory ACR data plane (``fake_acr``) that checks the token
exchange, every request's bearer token and every blob's digest."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport

from contract import SmokeVerdict
from factory.adapters.azure.acr import AcrData, AcrImageRegistry
from factory.adapters.local.registry import LocalImageRegistry
from factory.adapters.local.signing import LocalKeySigner
from factory.ports import ImageRef, ScoringCheck
from factory.supplychain import statements
from factory.supplychain.chain import promotable, verify
from factory.supplychain.cosign import attestation_tag, copy_attachments, sign_image, signature_tag, signed_identities
from factory.supplychain.oci import OCI_MANIFEST, OciError, TooLarge, sha256_digest
from factory.supplychain.steps import attest_approval, attest_statement, sign_build
from tests.supplychain.fake_acr import AAD_TOKEN, ACCESS_TOKEN, REFRESH_TOKEN, FakeAcr
from tests.supplychain.helpers import Registries

DEV, PROD = "factorydev.azurecr.io", "factoryprod.azurecr.io"
REPO = "models/tiny"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
INDEX = json.dumps({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": []}).encode()
LOCK = Path(__file__).resolve().parents[2] / "modelkit" / "environments" / "sklearn" / "requirements.lock"
FACTS = statements.BuildFacts(model="tiny", version="1", run_id="run-1", repository=REPO, source_commit="c0ffee",
                              data_sha256="d" * 64, training_job="job-1", arches=["amd64", "arm64"])
EDGE_PASS = SmokeVerdict.from_dict({"status": "pass", "cases": 1,
                                     "devices": [{"device": "edge-amd64", "arch": "amd64", "status": "pass"}]})


class IdentityCredential:
    """A token credential as DefaultAzureCredential is one: records the scopes asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(AAD_TOKEN, int(time.time()) + 3600)


def acr_registry(fake: FakeAcr, credential: IdentityCredential) -> AcrImageRegistry:
    transport = RequestsTransport(session=fake.session(), session_owner=False)
    return AcrImageRegistry(subscription_id="sub", resource_group="rg", dev_name="factorydev", prod_name="factoryprod",
                            credential=credential, data=AcrData(credential, {"transport": transport}))


def test_the_chain_signs_attests_copies_and_verifies_on_acr_with_the_identity_s_acr_token(signer: LocalKeySigner):
    fake, credential = FakeAcr(DEV, PROD), IdentityCredential()
    images = acr_registry(fake, credential)
    digest = fake.put_manifest(DEV, REPO, "run-1", INDEX, INDEX_TYPE)  # what the ACR task pushed
    image = ImageRef(DEV, REPO, digest=digest)
    public = signer.public_key_pem()

    sign_build(signer, images, image, FACTS, ScoringCheck(request=[1], expected=[2]), "amd64: ok", LOCK)
    attest_statement(signer, images, image, statements.EDGE_SMOKE,
                     statements.edge_smoke("run-1", "tiny", "1", EDGE_PASS))
    attest_approval(signer, images, image, statements.approval("run-1", "tiny", "1", digest, "ana@example.com",
                                                               "2026-12-07T04:00:00+00:00", "approve"))
    dev, prod = images.artifacts(DEV), images.artifacts(PROD)
    report = promotable(dev, REPO, digest, public, "1")
    assert report.ok, report.broken
    copy_attachments(dev, REPO, prod, REPO, digest)  # as promote_signed does, before the import
    assert sign_image(prod, REPO, digest, signer)
    fake.put_manifest(PROD, REPO, "v1", INDEX, INDEX_TYPE)  # what import_image does
    chain = verify(f"{PROD}/{REPO}:v1", public, images.artifacts)
    assert chain.ok, chain.broken
    assert {link.name for link in chain.links} >= {"signature", "provenance", "verification", "sbom", "edge",
                                                   "approval"}
    assert signed_identities(prod, REPO, digest, public) == [f"{DEV}/{REPO}", f"{PROD}/{REPO}"]

    # stored as cosign lays it out: .sig with one signature, .att with the five statements, every blob present
    sig_body, sig_type = fake.manifests[(DEV, REPO, signature_tag(digest))]
    att_body, _ = fake.manifests[(DEV, REPO, attestation_tag(digest))]
    assert sig_type == OCI_MANIFEST
    assert len(json.loads(sig_body)["layers"]) == 1 and len(json.loads(att_body)["layers"]) == 5
    for body in (sig_body, att_body):
        manifest = json.loads(body)
        for descriptor in [manifest["config"], *manifest["layers"]]:
            stored = fake.blobs[(DEV, REPO, descriptor["digest"])]
            assert sha256_digest(stored) == descriptor["digest"] and len(stored) == descriptor["size"]
    assert fake.manifests[(PROD, REPO, attestation_tag(digest))][0] == att_body  # copied byte for byte

    # on the wire: only the two login servers; the AAD token only in the exchange; every answered /v2/ call
    # carried the ACR access token; blobs uploaded as POST → PATCH → PUT ?digest=<sha256 of the bytes>
    assert {r.host for r in fake.requests} == {DEV, PROD}
    assert set(credential.scopes) == {("https://containerregistry.azure.net/.default",)}
    for r in fake.requests:
        carries_aad = AAD_TOKEN in json.dumps(r.headers) or AAD_TOKEN.encode() in r.body
        assert carries_aad == (r.path == "/oauth2/exchange"), r
        assert REFRESH_TOKEN not in json.dumps(r.headers)
        if r.path.startswith("/v2/"):
            assert r.status == 401 or r.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}", r
            assert r.status != 401 or "Authorization" not in r.headers
    exchange = [r for r in fake.requests if r.path == "/oauth2/exchange"]
    assert exchange and all(r.method == "POST" and r.status == 200 for r in exchange)
    puts = [r for r in fake.requests if r.method == "PUT" and "/blobs/uploads/" in r.path and r.status == 201]
    assert puts and all(fake.blobs[(r.host, REPO, r.query["digest"][0])] for r in puts)
    assert [r.method for r in fake.requests if "/blobs/uploads/" in r.path and r.status != 401][:3] == [
        "POST", "PATCH", "PUT"]
    manifest_puts = [r for r in fake.requests if r.method == "PUT" and "/manifests/" in r.path and r.status == 201]
    assert {r.path.rsplit("/", 1)[1] for r in manifest_puts} == {signature_tag(digest), attestation_tag(digest)}
    assert all(r.headers["Content-Type"] == OCI_MANIFEST for r in manifest_puts)


def test_acr_store_refuses_corrupt_and_oversized_blobs_and_answers_none_for_a_missing_manifest():
    fake = FakeAcr(DEV, PROD)
    store = acr_registry(fake, IdentityCredential()).artifacts(DEV)
    assert store.manifest(REPO, "sha256-" + "0" * 64 + ".sig") is None
    digest = store.put_blob(REPO, b"x" * 2000)
    assert store.blob(REPO, digest) == b"x" * 2000
    with pytest.raises(TooLarge):
        store.blob(REPO, digest, max_bytes=1000)
    fake.corrupt.add(digest)
    with pytest.raises(OciError, match="digest"):
        store.blob(REPO, digest)
    store.put_manifest(REPO, "big", b'{"layers": []' + b" " * 3000 + b"}", OCI_MANIFEST)
    with pytest.raises(TooLarge):
        store.manifest(REPO, "big", max_bytes=1000)


def test_without_acr_push_the_signature_is_refused_with_a_clear_error_and_nothing_is_stored(signer):
    fake = FakeAcr(DEV, PROD)
    fake.read_only.add(REPO)
    images = acr_registry(fake, IdentityCredential())
    digest = fake.put_manifest(DEV, REPO, "run-1", INDEX, INDEX_TYPE)
    with pytest.raises(OciError, match=f"{DEV}/{REPO}"):
        sign_build(signer, images, ImageRef(DEV, REPO, digest=digest), FACTS, ScoringCheck(request=[1], expected=[2]),
                   "amd64: ok", None)
    assert (DEV, REPO, signature_tag(digest)) not in fake.manifests
    assert any(r.status == 403 for r in fake.requests)


def test_acr_store_is_only_for_the_factory_s_two_registries_so_the_token_goes_nowhere_else(signer):
    fake = FakeAcr(DEV, PROD, "elsewhere.azurecr.io")
    images = acr_registry(fake, IdentityCredential())
    with pytest.raises(ValueError, match="not the factory's dev"):
        images.artifacts("elsewhere.azurecr.io")
    report = verify("elsewhere.azurecr.io/models/tiny:v1", signer.public_key_pem(), images.artifacts)
    assert [link.name for link in report.broken] == ["image"] and "not the factory's dev" in report.broken[0].detail
    assert fake.requests == []


def test_local_store_reads_and_writes_blobs_and_manifests_on_a_real_registry(registries: Registries):
    store = LocalImageRegistry(registries.dev_host, registries.prod_host).artifacts(registries.dev_host)
    assert store.host == registries.dev_host
    digest = store.put_blob(REPO, b"attestation bytes")
    assert digest == sha256_digest(b"attestation bytes") and store.blob(REPO, digest) == b"attestation bytes"
    config = store.put_blob(REPO, b"{}")
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                                  "digest": config},
                       "layers": [{"mediaType": "text/plain", "size": 17, "digest": digest}]}).encode()
    manifest_digest = store.put_manifest(REPO, "sha256-" + "a" * 64 + ".att", body)
    found = store.manifest(REPO, "sha256-" + "a" * 64 + ".att")
    assert found is not None and found.body == body and found.digest == manifest_digest
    assert store.manifest(REPO, "no-such-tag") is None
