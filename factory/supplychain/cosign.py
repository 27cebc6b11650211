"""Signatures and attestations stored beside an image the way cosign stores them, so any registry works
(no referrers API needed) and cosign and containers/image's sigstore support can read them (Debian's
skopeo/podman are built with that support disabled, so the devices use ``policy``):

- ``<repo>:sha256-<hex>.sig``: an OCI manifest whose layers are simple-signing payloads
  (``application/vnd.dev.cosign.simplesigning.v1+json``: "this docker-reference is this manifest digest"),
  each with its ECDSA P-256 signature in the ``dev.cosignproject.cosign/signature`` annotation. This is the
  layout containers/image reads with ``use-sigstore-attachments`` and checks under a ``sigstoreSigned`` policy.
- ``<repo>:sha256-<hex>.att``: an OCI manifest whose layers are DSSE envelopes
  (``application/vnd.dsse.envelope.v1+json``) of in-toto statements about that digest, one per predicate
  type, with the type in the ``predicateType`` annotation.

Everything read back is hostile until checked: sizes are bounded (``oci``), signatures verified with the
factory's public key, statements' subjects compared with the digest asked about.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from factory.fields import as_dict, as_dicts, as_list
from factory.ports import ArtifactStore
from factory.supplychain.oci import OCI_CONFIG, OCI_MANIFEST, OciError
from model_server.modelsig import pae  # DSSE's pre-authentication encoding (one copy, stdlib only)

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
PREDICATE_ANNOTATION = "predicateType"
IN_TOTO = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
COSIGN_SIGNATURE_TYPE = "cosign container image signature"
MAX_LAYERS = 32  # signatures or attestations per digest; more is refused as hostile


class SignerLike(Protocol):
    """What this module needs of a ``ports.Signer``."""

    def public_key_pem(self) -> bytes: ...

    def sign(self, payload: bytes) -> bytes: ...


class ChainBroken(ValueError):
    """A signature or attestation is missing, foreign, corrupt or about another image."""


def signature_tag(digest: str) -> str:
    return digest.replace(":", "-", 1) + ".sig"


def attestation_tag(digest: str) -> str:
    return digest.replace(":", "-", 1) + ".att"


def public_pem(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> bytes:
    """The PEM SubjectPublicKeyInfo of a key (or of a private key's public half): the one way the factory
    writes a public key (local key pair, Key Vault key)."""
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(pem: bytes) -> ec.EllipticCurvePublicKey:
    """The ECDSA P-256 public key of a PEM (``ChainBroken`` for anything else): the one way the factory reads
    a public key (verify, promotion, the devices' pull policy)."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise ChainBroken("the public key is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ChainBroken("the public key is not an ECDSA P-256 key")
    return key


def key_id(public: bytes) -> str:
    """The key's id: ``sha256:`` of its DER SubjectPublicKeyInfo (what ``model-factory verify`` prints)."""
    der = load_public_key(public).public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def verify_bytes(public: bytes, payload: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (ASN.1 DER ECDSA over SHA-256) is the key's over ``payload``."""
    key = load_public_key(public)
    try:
        key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def simple_signing_payload(identity: str, digest: str) -> bytes:
    """The payload a cosign/sigstore image signature signs: ``identity`` (``registry/repository``) is
    ``digest``."""
    return json.dumps({"critical": {"identity": {"docker-reference": identity},
                                    "image": {"docker-manifest-digest": digest},
                                    "type": COSIGN_SIGNATURE_TYPE},
                       "optional": {"creator": "model-factory"}}, separators=(",", ":")).encode()


def envelope(statement: dict[str, Any], signer: SignerLike) -> bytes:
    """The statement in a DSSE envelope signed by ``signer``."""
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    signature = signer.sign(pae(IN_TOTO, payload))
    return json.dumps({"payloadType": IN_TOTO, "payload": base64.b64encode(payload).decode(),
                       "signatures": [{"keyid": key_id(signer.public_key_pem()),
                                       "sig": base64.b64encode(signature).decode()}]}).encode()


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ChainBroken(f"{what}: expected base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ChainBroken(f"{what}: not base64") from None


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ChainBroken(f"{what}: not JSON") from None
    if not isinstance(value, dict):
        raise ChainBroken(f"{what}: not a JSON object")
    return cast(dict[str, Any], value)


def open_envelope(data: bytes, public_pem: bytes, digest: str) -> dict[str, Any]:
    """The in-toto statement of a DSSE envelope, if the factory's key signed it and its subject is
    ``digest``; else ``ChainBroken`` saying which."""
    env = _json_object(data, "attestation envelope")
    if env.get("payloadType") != IN_TOTO:
        raise ChainBroken(f"attestation envelope: payload type {env.get('payloadType')!r}, expected {IN_TOTO}")
    payload = _b64(env.get("payload"), "attestation payload")
    signatures = as_list(env.get("signatures"))
    if not signatures:
        raise ChainBroken("attestation envelope: no signatures")
    if not any(verify_bytes(public_pem, pae(IN_TOTO, payload), _b64(s.get("sig"), "sig"))
               for s in as_dicts(signatures[:MAX_LAYERS])):
        raise ChainBroken("attestation envelope: not signed by the factory's key")
    statement = _json_object(payload, "attestation statement")
    hexdigest = digest.removeprefix("sha256:")
    if statement.get("_type") != STATEMENT_TYPE or not any(
            as_dict(s.get("digest")).get("sha256") == hexdigest for s in as_dicts(statement.get("subject"))):
        raise ChainBroken(f"attestation statement: not about {digest}")
    return statement


@dataclass(frozen=True)
class Layer:
    """One attachment layer: its bytes, media type and annotations."""

    data: bytes
    media_type: str
    annotations: dict[str, str]


def _layers(registry: ArtifactStore, repository: str, tag: str) -> list[Layer]:
    """The layers of an attachment manifest (empty when the tag does not exist), each blob bounded."""
    manifest = registry.manifest(repository, tag)
    if manifest is None:
        return []
    where = f"{registry.host}/{repository}:{tag}"
    body = manifest.json()
    if not isinstance(body.get("layers"), list):
        raise ChainBroken(f"{where}: not an image manifest (no layers)")
    layers = as_list(body.get("layers"))
    if len(layers) > MAX_LAYERS:
        raise ChainBroken(f"{where}: {len(layers)} layers, over {MAX_LAYERS}")
    out: list[Layer] = []
    for entry in map(as_dict, layers):
        digest = entry.get("digest")
        if not isinstance(digest, str):  # also a layer that is not an object
            raise ChainBroken(f"{where}: a layer without a digest")
        if entry.get("annotations") and not isinstance(entry.get("annotations"), dict):
            raise ChainBroken(f"{where}: annotations are not an object")
        out.append(Layer(registry.blob(repository, digest), str(entry.get("mediaType", "")),
                         {str(k): str(v) for k, v in as_dict(entry.get("annotations")).items()}))
    return out


def put_layers(registry: ArtifactStore, repository: str, tag: str, layers: list[Layer]) -> str:
    """Store ``layers`` as the attachment manifest ``tag`` (config as containers/image and cosign write it)."""
    descriptors: list[dict[str, Any]] = []
    for layer in layers:
        digest = registry.put_blob(repository, layer.data)
        descriptors.append({"mediaType": layer.media_type, "size": len(layer.data), "digest": digest,
                            "annotations": layer.annotations})
    config = json.dumps({"architecture": "", "os": "", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descriptors]}}).encode()
    config_digest = registry.put_blob(repository, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": config_digest},
                           "layers": descriptors}).encode()
    return registry.put_manifest(repository, tag, manifest, OCI_MANIFEST)


def sign_image(registry: ArtifactStore, repository: str, digest: str, signer: SignerLike, identity: str = "") -> bool:
    """Add the factory's signature of ``digest`` as ``identity`` (default ``registry/repository``) to its
    ``.sig`` manifest, keeping other signatures. Idempotent: False when that signature is there already."""
    identity = identity or f"{registry.host}/{repository}"
    public = signer.public_key_pem()
    tag = signature_tag(digest)
    layers = _layers(registry, repository, tag)
    for layer in layers:
        if _signed_identity(layer, public, digest) == identity:
            return False
    payload = simple_signing_payload(identity, digest)
    signature = base64.b64encode(signer.sign(payload)).decode()
    put_layers(registry, repository, tag, [*layers, Layer(payload, SIMPLE_SIGNING, {SIGNATURE_ANNOTATION: signature})])
    return True


def _signed_identity(layer: Layer, public_pem: bytes, digest: str) -> str | None:
    """The identity a signature layer signs for ``digest`` with the factory's key, or None (another key,
    another digest, a corrupt layer)."""
    if layer.media_type != SIMPLE_SIGNING or SIGNATURE_ANNOTATION not in layer.annotations:
        return None
    try:
        signature = _b64(layer.annotations[SIGNATURE_ANNOTATION], "signature")
        if not verify_bytes(public_pem, layer.data, signature):
            return None
        critical = as_dict(_json_object(layer.data, "signature payload").get("critical"))
    except ChainBroken:
        return None
    if critical.get("type") != COSIGN_SIGNATURE_TYPE:
        return None
    if as_dict(critical.get("image")).get("docker-manifest-digest") != digest:
        return None
    ref = as_dict(critical.get("identity")).get("docker-reference")
    return ref if isinstance(ref, str) else None


def signed_identities(registry: ArtifactStore, repository: str, digest: str, public_pem: bytes) -> list[str]:
    """The identities (``registry/repository``) the factory's key signed ``digest`` as; empty when unsigned
    or signed by other keys only. ``ChainBroken``/``OciError`` when the signature manifest is hostile."""
    layers = _layers(registry, repository, signature_tag(digest))
    return [ident for layer in layers if (ident := _signed_identity(layer, public_pem, digest)) is not None]


def attest(registry: ArtifactStore, repository: str, digest: str, statement: dict[str, Any],
           signer: SignerLike) -> str:
    """Store ``statement`` (about ``digest``) signed in a DSSE envelope in the ``.att`` manifest, replacing an
    earlier statement of the same predicate type (a retried activity writes one); returns the envelope's
    digest."""
    tag = attestation_tag(digest)
    predicate_type = str(statement["predicateType"])
    layers = [layer for layer in _layers(registry, repository, tag)
              if layer.annotations.get(PREDICATE_ANNOTATION) != predicate_type]
    layer = Layer(envelope(statement, signer), DSSE_ENVELOPE, {PREDICATE_ANNOTATION: predicate_type})
    put_layers(registry, repository, tag, [*layers, layer])
    return "sha256:" + hashlib.sha256(layer.data).hexdigest()


def attestations(registry: ArtifactStore, repository: str, digest: str, public_pem: bytes
                 ) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """``(statements by predicate type, problems)``: the ``.att`` layers the factory's key signed about
    ``digest``, and what was wrong with the others (foreign key, another subject, corrupt)."""
    found: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for layer in _layers(registry, repository, attestation_tag(digest)):
        if layer.media_type != DSSE_ENVELOPE:
            continue
        try:
            statement = open_envelope(layer.data, public_pem, digest)
        except ChainBroken as exc:
            problems.append(f"{layer.annotations.get(PREDICATE_ANNOTATION, '?')}: {exc}")
            continue
        found[str(statement.get("predicateType"))] = statement
    return found, problems


def copy_attachments(source: ArtifactStore, source_repository: str, target: ArtifactStore, target_repository: str,
                     digest: str) -> None:
    """Copy ``digest``'s ``.sig`` and ``.att`` manifests (and their blobs, each bounded) to the target."""
    for tag in (signature_tag(digest), attestation_tag(digest)):
        try:
            layers = _layers(source, source_repository, tag)
        except OciError as exc:
            raise ChainBroken(f"{source.host}/{source_repository}:{tag}: {exc}") from None
        if layers:
            put_layers(target, target_repository, tag, layers)
