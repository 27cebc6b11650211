"""The scoring server's check of the model folder against its OpenSSF model-signing signature, before ``init()``
loads anything: standard library only (the model images carry neither ``cryptography`` nor ``model_signing``).

The signature is a Sigstore bundle (v0.3) as ``model_signing`` 1.x writes it for an elliptic-curve key: a DSSE
envelope of an in-toto statement, predicate ``https://model_signing/signature/v1.0``, serialization ``files``
with ``sha256``: one resource per file (its path relative to the model folder and the SHA-256 of its bytes),
and one subject whose digest is the SHA-256 over the resources' digests in order. The envelope's signature is
ECDSA P-256 over SHA-256 of DSSE's pre-authentication encoding, checked here in pure Python.

Refused (``ModelSignatureError``): a bundle that is oversized, malformed or of another format; a signature that
is not the key's; a file changed, missing or added (symlinks included), a path outside the folder.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path
from typing import Any

BUNDLE_MEDIA_TYPES = ("application/vnd.dev.sigstore.bundle.v0.3+json",)
IN_TOTO = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
MAX_BUNDLE_BYTES = 4 * 1024 * 1024  # a bundle lists one digest per file; a model of ~20k files fits
MAX_FILES = 20_000
DEFAULT_IGNORED = frozenset({".git", ".gitattributes", ".github", ".gitignore"})

# P-256 (SEC 2 / FIPS 186-4)
_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_A = _P - 3
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
      0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)
# DER AlgorithmIdentifier { id-ecPublicKey, prime256v1 } of a P-256 SubjectPublicKeyInfo
_SPKI_P256 = bytes.fromhex("301306072a8648ce3d020106082a8648ce3d030107")


class ModelSignatureError(ValueError):
    """The model folder does not match its signature, or the signature is not the key's."""


# ---- ECDSA P-256 verification ------------------------------------------------------------------------------
def _der(data: bytes, pos: int, tag: int) -> tuple[bytes, int]:
    """The content of the DER element with ``tag`` at ``pos`` and the position after it."""
    if pos + 2 > len(data) or data[pos] != tag:
        raise ModelSignatureError("malformed DER")
    length, pos = data[pos + 1], pos + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 2 or pos + count > len(data):
            raise ModelSignatureError("malformed DER length")
        length, pos = int.from_bytes(data[pos:pos + count], "big"), pos + count
    if pos + length > len(data):
        raise ModelSignatureError("truncated DER")
    return data[pos:pos + length], pos + length


def public_point(pem: bytes) -> tuple[int, int]:
    """The point of a PEM P-256 SubjectPublicKeyInfo (uncompressed), checked to be on the curve."""
    text = pem.decode("ascii", "replace")
    begin, end = "-----BEGIN PUBLIC KEY-----", "-----END PUBLIC KEY-----"
    if begin not in text or end not in text:
        raise ModelSignatureError("the model signing key is not a PEM public key")
    try:
        der = base64.b64decode("".join(text.split(begin, 1)[1].split(end, 1)[0].split()), validate=True)
    except (binascii.Error, ValueError):
        raise ModelSignatureError("the model signing key is not base64 PEM") from None
    spki, _ = _der(der, 0, 0x30)
    algorithm, pos = _der(spki, 0, 0x30)
    if b"\x30\x13" + algorithm != _SPKI_P256:
        raise ModelSignatureError("the model signing key is not an ECDSA P-256 key")
    bits, _ = _der(spki, pos, 0x03)
    if len(bits) != 66 or bits[:2] != b"\x00\x04":
        raise ModelSignatureError("the model signing key is not an uncompressed P-256 point")
    x, y = int.from_bytes(bits[2:34], "big"), int.from_bytes(bits[34:], "big")
    if not (x < _P and y < _P and (y * y - x * x * x - _A * x - _B) % _P == 0):
        raise ModelSignatureError("the model signing key's point is not on P-256")
    return x, y


def _add(p: tuple[int, int, int], q: tuple[int, int, int]) -> tuple[int, int, int]:
    """Jacobian point addition on P-256 (``Z == 0`` is the point at infinity)."""
    x1, y1, z1 = p
    x2, y2, z2 = q
    if not z1:
        return q
    if not z2:
        return p
    z1z1, z2z2 = z1 * z1 % _P, z2 * z2 % _P
    u1, u2 = x1 * z2z2 % _P, x2 * z1z1 % _P
    s1, s2 = y1 * z2 * z2z2 % _P, y2 * z1 * z1z1 % _P
    if u1 == u2:
        return _double(p) if s1 == s2 else (0, 1, 0)
    h, r = (u2 - u1) % _P, (s2 - s1) % _P
    hh = h * h % _P
    hhh, v = h * hh % _P, u1 * hh % _P
    x3 = (r * r - hhh - 2 * v) % _P
    return x3, (r * (v - x3) - s1 * hhh) % _P, h * z1 * z2 % _P


def _double(p: tuple[int, int, int]) -> tuple[int, int, int]:
    x, y, z = p
    if not z or not y:
        return 0, 1, 0
    yy = y * y % _P
    s = 4 * x * yy % _P
    zz = z * z % _P
    m = 3 * (x - zz) * (x + zz) % _P  # a = -3
    x3 = (m * m - 2 * s) % _P
    return x3, (m * (s - x3) - 8 * yy * yy) % _P, 2 * y * z % _P


def _mul(k: int, point: tuple[int, int]) -> tuple[int, int, int]:
    result, addend = (0, 1, 0), (point[0], point[1], 1)
    while k:
        if k & 1:
            result = _add(result, addend)
        addend, k = _double(addend), k >> 1
    return result


def ecdsa_p256_verify(point: tuple[int, int], message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (ASN.1 DER ``r, s``) is ECDSA P-256 / SHA-256 of ``message`` by ``point``."""
    try:
        body, end = _der(signature, 0, 0x30)
        if end != len(signature):
            return False
        r_bytes, pos = _der(body, 0, 0x02)
        s_bytes, pos = _der(body, pos, 0x02)
    except ModelSignatureError:
        return False
    if pos != len(body):
        return False
    r, s = int.from_bytes(r_bytes, "big"), int.from_bytes(s_bytes, "big")
    if not (0 < r < _N and 0 < s < _N):
        return False
    e = int.from_bytes(hashlib.sha256(message).digest(), "big")
    w = pow(s, -1, _N)
    x, _, z = _add(_mul(e * w % _N, _G), _mul(r * w % _N, point))
    if not z:
        return False
    return (x * pow(z * z, -1, _P)) % _P % _N == r


# ---- the bundle and the folder -----------------------------------------------------------------------------
def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what a DSSE signature signs."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ModelSignatureError(f"{what}: expected a JSON object")
    return value


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ModelSignatureError(f"{what}: expected base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ModelSignatureError(f"{what}: not base64") from None


def signed_statement(bundle: bytes, public_pem: bytes) -> dict[str, Any]:
    """The in-toto statement of a model-signing bundle, once its signature verified with the key."""
    if len(bundle) > MAX_BUNDLE_BYTES:
        raise ModelSignatureError(f"model signature: {len(bundle)} bytes, over {MAX_BUNDLE_BYTES}")
    try:
        body = _object(json.loads(bundle), "model signature")
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ModelSignatureError("model signature: not JSON") from None
    if body.get("mediaType") not in BUNDLE_MEDIA_TYPES:
        raise ModelSignatureError(f"model signature: media type {body.get('mediaType')!r} is not a v0.3 bundle")
    hint = _object(_object(body.get("verificationMaterial", {}), "verificationMaterial").get("publicKey", {}),
                   "publicKey").get("hint")
    if hint not in (None, "", hashlib.sha256(public_pem).hexdigest()):
        raise ModelSignatureError("model signature: made with another key (its key hint does not match)")
    envelope = _object(body.get("dsseEnvelope"), "model signature dsseEnvelope")
    if envelope.get("payloadType") != IN_TOTO:
        raise ModelSignatureError(f"model signature: payload type {envelope.get('payloadType')!r}")
    payload = _b64(envelope.get("payload"), "model signature payload")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures or len(signatures) > 8:
        raise ModelSignatureError("model signature: expected one to eight signatures")
    point = public_point(public_pem)
    if not any(isinstance(s, dict) and ecdsa_p256_verify(point, pae(IN_TOTO, payload), _b64(s.get("sig"), "sig"))
               for s in signatures):
        raise ModelSignatureError("model signature: not signed by the factory's model signing key")
    try:
        return _object(json.loads(payload), "model signature statement")
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ModelSignatureError("model signature statement: not JSON") from None


def _expected_files(statement: dict[str, Any]) -> tuple[dict[str, str], frozenset[str]]:
    """``({relative path: sha256 hex}, ignored paths)`` of a statement, its subject digest checked."""
    if statement.get("_type") != STATEMENT_TYPE or statement.get("predicateType") != PREDICATE_TYPE:
        raise ModelSignatureError(f"model signature: not a {PREDICATE_TYPE} statement")
    predicate = _object(statement.get("predicate"), "predicate")
    serialization = _object(predicate.get("serialization"), "serialization")
    if serialization.get("method") != "files" or serialization.get("hash_type") != "sha256":
        raise ModelSignatureError("model signature: only the files/sha256 serialization is verified here")
    if serialization.get("allow_symlinks") not in (False, None):
        raise ModelSignatureError("model signature: signed with symlinks allowed; not verified here")
    ignored = serialization.get("ignore_paths", [])
    if not isinstance(ignored, list) or not all(isinstance(p, str) for p in ignored):
        raise ModelSignatureError("model signature: ignore_paths is not a list of paths")
    resources = predicate.get("resources")
    if not isinstance(resources, list) or len(resources) > MAX_FILES:
        raise ModelSignatureError(f"model signature: resources must be a list of at most {MAX_FILES}")
    files: dict[str, str] = {}
    root = hashlib.sha256()
    for item in resources:
        resource = _object(item, "resource")
        name, digest = resource.get("name"), resource.get("digest")
        if resource.get("algorithm") != "sha256" or not isinstance(name, str) or not isinstance(digest, str):
            raise ModelSignatureError("model signature: a resource without a name and sha256 digest")
        try:
            root.update(bytes.fromhex(digest))
        except ValueError:
            raise ModelSignatureError(f"model signature: {name}: digest is not hex") from None
        files[name] = digest
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1:
        raise ModelSignatureError("model signature: expected exactly one subject")
    subject_digest = _object(_object(subjects[0], "subject").get("digest"), "subject digest").get("sha256")
    if subject_digest != root.hexdigest():
        raise ModelSignatureError("model signature: the subject's digest is not that of the listed files")
    return files, frozenset(ignored)


def folder_files(model_dir: Path, ignored: frozenset[str]) -> dict[str, str]:
    """``{relative posix path: sha256 hex}`` of every file under ``model_dir`` but the ignored ones; a symlink
    is refused."""
    found: dict[str, str] = {}
    for top, dirs, names in os.walk(model_dir, followlinks=False):
        base = Path(top)
        rel_top = base.relative_to(model_dir)
        dirs[:] = sorted(d for d in dirs if (rel_top / d).as_posix() not in ignored)
        for name in [*names, *dirs]:
            path = base / name
            if path.is_symlink():
                raise ModelSignatureError(f"model folder: {path.relative_to(model_dir)} is a symlink")
        for name in sorted(names):
            rel = (rel_top / name).as_posix()
            if rel in ignored:
                continue
            if len(found) >= MAX_FILES:
                raise ModelSignatureError(f"model folder: over {MAX_FILES} files")
            digest = hashlib.sha256()
            with open(base / name, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            found[rel] = digest.hexdigest()
    return found


def verify_model(model_dir: Path, bundle: bytes, public_pem: bytes) -> str:
    """Check ``model_dir`` against ``bundle`` with the key; returns the model's signed digest (the subject's)."""
    statement = signed_statement(bundle, public_pem)
    expected, ignored = _expected_files(statement)
    actual = folder_files(model_dir, ignored)
    changed = sorted(name for name in expected.keys() & actual.keys() if expected[name] != actual[name])
    missing, extra = sorted(expected.keys() - actual.keys()), sorted(actual.keys() - expected.keys())
    if changed or missing or extra:
        parts = [f"{label}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
                 for label, names in (("changed", changed), ("missing", missing), ("not signed", extra)) if names]
        raise ModelSignatureError(f"model folder {model_dir} does not match its signature ({'; '.join(parts)})")
    subject = _object(statement["subject"][0], "subject")
    return f"sha256:{subject['digest']['sha256']}"


def check_from_env(environ: dict[str, str] | None = None) -> str:
    """The server's check at start: when ``MODEL_SIGNATURE`` names a bundle, the model folder
    (``AZUREML_MODEL_DIR``) must match it under the key ``MODEL_SIGNING_KEY`` (default: ``model-signing.pub``
    beside the bundle). Returns what was checked ("" when the image declares no model signature)."""
    env = os.environ if environ is None else environ
    bundle_path = env.get("MODEL_SIGNATURE", "")
    if not bundle_path:
        return ""
    bundle_file = Path(bundle_path)
    key_file = Path(env.get("MODEL_SIGNING_KEY", "") or bundle_file.with_name("model-signing.pub"))
    model_dir = Path(env.get("AZUREML_MODEL_DIR", "."))
    try:
        with open(bundle_file, "rb") as f:
            bundle = f.read(MAX_BUNDLE_BYTES + 1)
        public_pem = key_file.read_bytes()
    except OSError as exc:
        raise ModelSignatureError(f"model signature: {exc.filename}: {exc.strerror}") from None
    digest = verify_model(model_dir, bundle, public_pem)
    return f"{model_dir} matches {bundle_file} ({digest}, key sha256:{hashlib.sha256(public_pem).hexdigest()[:16]})"
