"""The chain's part in a run's activities (``factory.steps`` calls these): check the key before a build,
sign and attest a verified image, attest an approval, and promote only a signed, approved digest together
with its signatures and attestations.
"""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path
from typing import Any

from contract import AttestationRef, SignatureFacts
from factory import ports
from factory.supplychain import statements
from factory.supplychain.chain import parse_reference, promotable
from factory.supplychain.cosign import (
    ChainBroken,
    attest,
    attestation_tag,
    copy_attachments,
    key_id,
    sign_image,
    signature_tag,
    verify_bytes,
)
from factory.supplychain.oci import OciError

KEY_CHECK = b"model-factory signing key check"


class PromotionRefused(RuntimeError):
    """The dev image's chain does not allow promotion; the message names the broken link."""


def require_signer(signer: ports.Signer) -> bytes:
    """The public key, after proving the key signs and its public half verifies that (``SigningKeyError``
    otherwise): a run fails here, before anything is built or pushed, when the key is missing or unusable."""
    public = signer.public_key_pem()
    if not verify_bytes(public, KEY_CHECK, signer.sign(KEY_CHECK)):
        raise ports.SigningKeyError("the signing key's public half does not verify its signatures: the private and "
                                    "public key files are not a pair")
    return public


def tree_sha256(root: Path) -> str:
    """SHA-256 over the sorted relative paths and contents of a source folder's files, without caches
    (``__pycache__``, ``*.pyc``, dot-files): the model folder's and the kit's hash in the provenance."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if any(part == "__pycache__" or part.startswith(".") for part in rel.parts) or path.suffix == ".pyc":
            continue
        digest.update(rel.as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def sign_build(signer: ports.Signer, images: ports.ImageRegistry, image: ports.ImageRef, facts: statements.BuildFacts,
               check: ports.ScoringCheck, report: str, lock: Path | None, model_digest: str = "") -> SignatureFacts:
    """Sign the verified image index ``image`` (``registry/repository@digest``) and attest its provenance,
    its verification and (with a lock) its SBOM. Idempotent. Returns what it made (the run's lineage keeps it
    for the approval card and the run page); ``model_digest``: the model folder's own signature, if any."""
    registry, name = images.artifacts(image.registry), f"{image.registry}/{image.repository}"
    sign_image(registry, image.repository, image.digest, signer)
    predicates = [(statements.PROVENANCE, statements.provenance(facts)),
                  (statements.VERIFICATION, statements.verification(facts.arches, check.request, check.expected,
                                                                    check.tolerance, report))]
    if lock is not None and lock.is_file():
        predicates.append((statements.SBOM, statements.sbom(lock, name)))
    refs = [AttestationRef(kind, attest(registry, image.repository, image.digest,
                                        statements.statement(name, image.digest, kind, predicate), signer))
            for kind, predicate in predicates]
    return SignatureFacts(key_id=key_id(signer.public_key_pem()), signed_as=name,
                          signature_ref=f"{name}:{signature_tag(image.digest)}",
                          attestation_ref=f"{name}:{attestation_tag(image.digest)}", attestations=refs,
                          model_digest=model_digest)


def attest_statement(signer: ports.Signer, images: ports.ImageRegistry, image: ports.ImageRef, predicate_type: str,
                     predicate: dict[str, Any]) -> str:
    """Sign a statement of ``predicate_type`` about ``image``'s digest into its attestations; returns the
    envelope's digest."""
    name = f"{image.registry}/{image.repository}"
    return attest(images.artifacts(image.registry), image.repository, image.digest,
                  statements.statement(name, image.digest, predicate_type, predicate), signer)


def attest_approval(signer: ports.Signer, images: ports.ImageRegistry, image: ports.ImageRef,
                    predicate: dict[str, Any]) -> str:
    """Sign the approval of ``image``'s digest into its attestations; returns the envelope's digest."""
    return attest_statement(signer, images, image, statements.APPROVAL, predicate)


def promote_signed(signer: ports.Signer, images: ports.ImageRegistry, source: ports.ImageRef, repository: str,
                   tag: str, version: str) -> ports.ImageRef:
    """Check the dev image's signature, its passing edge smoke test and its approval of exactly this digest,
    then copy its signatures and attestations to prod, sign it there under its prod name, and copy the image.
    ``PromotionRefused`` (nothing copied) when a link is missing."""
    public = signer.public_key_pem()
    dev = images.artifacts(source.registry)
    report = promotable(dev, source.repository, source.digest, public, version)
    if not report.ok:
        broken = "; ".join(f"{link.name}: {link.detail}" for link in report.broken)
        raise PromotionRefused(f"not promoting {source}: {broken}")
    prod_registry = images.artifacts(images.prod_host())
    try:  # the signatures first: the prod tag never names an image whose signature is not there yet
        copy_attachments(dev, source.repository, prod_registry, repository, source.digest)
        sign_image(prod_registry, repository, source.digest, signer)
    except (ChainBroken, OciError) as exc:
        raise PromotionRefused(f"not promoting {source}: copying its signatures and attestations failed: {exc}"
                               ) from None
    return images.promote(source, repository, tag)


class RollbackMarker:
    """Marks a prod image rolled back (``RolloutService``'s ``RollbackMark``): a signed ``rolled-back``
    statement in the image's attestations, in the registry beside it. The image and its tag stay; a retried
    call replaces the statement (one mark per image)."""

    def __init__(self, signer: ports.Signer, images: ports.ImageRegistry) -> None:
        self.signer, self.images = signer, images

    def mark_rolled_back(self, image: str, predicate: dict[str, Any]) -> None:
        """``image`` is ``registry/repository[:tag]@sha256:...`` (the prod reference the rollout deployed)."""
        host, repository, tag, digest = parse_reference(image)
        if not digest:
            raise ValueError(f"image reference {image!r}: a rolled-back mark needs the digest")
        attest_statement(self.signer, self.images, ports.ImageRef(host, repository, tag, digest),
                         statements.ROLLED_BACK, predicate)
