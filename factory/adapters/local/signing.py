"""``LocalKeySigner``: the ``Signer`` port on a key pair in the local state dir, made by ``model-factory up``
when missing (``ensure_key_pair``).

The private key is an ECDSA P-256 key in PKCS#8 PEM, mode 0600 in a 0700 folder, never in the repository;
the public key beside it (0644) is what ``model-factory verify``, promotion and the devices' ``policy.json``
trust. Signatures are cosign's: ASN.1 DER ECDSA over SHA-256, written into the registry by
``factory.supplychain.cosign`` (not by skopeo: the same code path signs with the Key Vault key on Azure, and
the DSSE attestations need the key from Python anyway). The devices check it with the factory's own verifier
(``factory.supplychain.policy``): Debian's skopeo and podman are built with sigstore checks disabled.

Settings: ``FACTORY_SIGNING_KEY`` (default ``<state dir>/keys/signing.key``; the public key is the same path
with ``.pub``).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from factory.ports import SigningKeyError
from factory.settings import Settings
from factory.supplychain.cosign import public_pem


def key_paths(settings: Settings) -> tuple[Path, Path]:
    """``(private key, public key)`` paths of the local stack."""
    private = Path(settings.env("FACTORY_SIGNING_KEY", "") or settings.state_dir / "keys" / "signing.key")
    return private, private.with_suffix(".pub")


def ensure_key_pair(private: Path, public: Path) -> bool:
    """Make the key pair when the private key is missing (True) or leave it (False); repair a public key that
    is missing. The private key is written 0600 from the start (no window where others can read it)."""
    if private.exists():
        if not public.exists():
            public.write_bytes(public_pem(_load_private(private)))
        return False
    private.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(private.parent, 0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public.write_bytes(public_pem(key))
    os.chmod(public, 0o644)
    return True


def _load_private(path: Path) -> ec.EllipticCurvePrivateKey:
    fix = "model-factory up makes a key pair when there is none"
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except FileNotFoundError:
        raise SigningKeyError(f"signing key {path}: missing ({fix}); nothing unsigned is pushed") from None
    except OSError as exc:
        raise SigningKeyError(f"signing key {path}: unreadable ({exc.strerror}); nothing unsigned is pushed") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningKeyError(f"signing key {path}: readable by others (mode {stat.S_IMODE(mode):o}); "
                              "expected 0600 (chmod 600 it, or remove it and let model-factory up make a new one)")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"signing key {path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SigningKeyError(f"signing key {path}: expected an ECDSA P-256 key")
    return key


@dataclass(frozen=True)
class LocalKeySigner:
    """``Signer`` on the local key file; the key is read on each use (a removed key fails the next signing)."""

    private_key: Path
    public_key: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalKeySigner:
        private, public = key_paths(settings)
        return cls(private, public)

    def public_key_pem(self) -> bytes:
        """The public key beside the private key (derived from the private key when that file is missing)."""
        try:
            return self.public_key.read_bytes()
        except FileNotFoundError:
            return public_pem(_load_private(self.private_key))

    def sign(self, payload: bytes) -> bytes:
        """ECDSA P-256 over SHA-256 of ``payload``, DER-encoded."""
        return _load_private(self.private_key).sign(payload, ec.ECDSA(hashes.SHA256()))
