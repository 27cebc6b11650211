# pyright: strict
"""The model artifact's own signature, in OpenSSF model-signing's format (a Sigstore v0.3 bundle of a DSSE
envelope, predicate ``https://model_signing/signature/v1.0``, ``files``/``sha256`` serialization), made with
the factory's key through the ``Signer`` port (so the Key Vault key signs it on Azure too; the
``model_signing`` library signs only with a private key file). ``model_signing``'s verifier accepts what this
writes and the scoring server's own verifier (``model_server/modelsig.py``) accepts what the library writes:
``tests/supplychain/test_model_signing.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from factory.supplychain.cosign import SignerLike, load_public_key, public_pem
from model_server.modelsig import (
    BUNDLE_MEDIA_TYPES,
    DEFAULT_IGNORED,
    IN_TOTO,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    folder_files,
    pae,
)

SIGNATURE_FILE = "model.sig"
PUBLIC_KEY_FILE = "model-signing.pub"


def statement(model_dir: Path, name: str) -> dict[str, object]:
    """The in-toto statement model-signing signs for ``model_dir``: every file's SHA-256, sorted by path."""
    ignored = sorted(DEFAULT_IGNORED)
    files = sorted(folder_files(model_dir, frozenset(ignored)).items())
    root = hashlib.sha256(b"".join(bytes.fromhex(digest) for _, digest in files)).hexdigest()
    return {"_type": STATEMENT_TYPE, "subject": [{"name": name, "digest": {"sha256": root}}],
            "predicateType": PREDICATE_TYPE,
            "predicate": {"serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False,
                                            "ignore_paths": ignored},
                          "resources": [{"name": path, "algorithm": "sha256", "digest": digest}
                                        for path, digest in files]}}


def sign_model(model_dir: Path, signer: SignerLike, name: str) -> bytes:
    """The model-signing bundle of ``model_dir`` signed by ``signer`` (the key hint is the SHA-256 of its PEM)."""
    payload = json.dumps(statement(model_dir, name), sort_keys=True, separators=(",", ":")).encode()
    signature = signer.sign(pae(IN_TOTO, payload))
    pem = public_pem(load_public_key(signer.public_key_pem()))
    return json.dumps({"mediaType": BUNDLE_MEDIA_TYPES[0],
                       "verificationMaterial": {"publicKey": {"hint": hashlib.sha256(pem).hexdigest()},
                                                "tlogEntries": []},
                       "dsseEnvelope": {"payload": base64.b64encode(payload).decode(), "payloadType": IN_TOTO,
                                        "signatures": [{"sig": base64.b64encode(signature).decode()}]}},
                      indent=1).encode()


def write_signature(model_dir: Path, dest: Path, signer: SignerLike, name: str) -> str:
    """Sign ``model_dir`` into ``dest/model.sig`` with the public key beside it (``dest/model-signing.pub``),
    outside the folder it signs; returns the model's digest (``sha256:`` of its files' digests)."""
    (dest / SIGNATURE_FILE).write_bytes(sign_model(model_dir, signer, name))
    (dest / PUBLIC_KEY_FILE).write_bytes(public_pem(load_public_key(signer.public_key_pem())))
    return signed_model_digest(dest)


def signed_model_digest(context: Path) -> str:
    """The model digest (``sha256:``, the bundle's subject) of the signature in a build context; "" when the
    context holds none."""
    try:
        bundle = json.loads((context / SIGNATURE_FILE).read_bytes())
        subject = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))["subject"][0]
        return "sha256:" + str(subject["digest"]["sha256"])
    except FileNotFoundError:
        return ""
    except (OSError, ValueError, KeyError, IndexError, TypeError) as err:  # JSON and base64 errors are ValueErrors
        raise ValueError(f"{context / SIGNATURE_FILE}: not a model-signing bundle with a sha256 subject "
                         f"({type(err).__name__}: {err})") from err
