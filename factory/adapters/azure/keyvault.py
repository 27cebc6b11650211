"""``KeyVaultSigner``: the ``Signer`` port on a Key Vault EC P-256 key (``infra/modules/signing.bicep``); the
private key never leaves the vault.

Key Vault signs a SHA-256 digest with ES256 and answers the signature as JWS does (``r || s``, 64 bytes);
cosign, containers/image and ``factory.supplychain`` expect ASN.1 DER, so the adapter converts. The public key
is read once from the vault (``KeyClient.get_key``) and handed out as PEM.

Settings: ``FACTORY_SIGNING_KEY_ID``, the key's id (``https://<vault>.vault.azure.net/keys/<name>``, optionally
``/<version>``; without one, its current version: a rotation needs no app setting change); the Functions
app's managed identity needs the "Key Vault Crypto User" role on the key (sign + get).
"""

from __future__ import annotations

import hashlib
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from factory.ports import SigningKeyError
from factory.settings import Settings
from factory.supplychain.cosign import public_pem

ES256_SIGNATURE_BYTES = 64


def parse_key_id(key_id: str) -> tuple[str, str, str | None]:
    """``(vault URL, key name, version or None: the current one)`` of a Key Vault key id; ``SigningKeyError``
    for anything else."""
    url = urllib.parse.urlsplit(key_id)
    parts = [p for p in url.path.split("/") if p]
    if url.scheme != "https" or not url.hostname or len(parts) not in (2, 3) or parts[0] != "keys":
        raise SigningKeyError(f"setting FACTORY_SIGNING_KEY_ID: expected https://<vault>/keys/<name>[/<version>], "
                              f"got {key_id!r}")
    return f"https://{url.netloc}", parts[1], parts[2] if len(parts) == 3 else None  # noqa: PLR2004


def der_signature(raw: bytes) -> bytes:
    """A JWS ES256 signature (``r || s``, 32 bytes each) as ASN.1 DER."""
    if len(raw) != ES256_SIGNATURE_BYTES:
        raise SigningKeyError(f"Key Vault answered a {len(raw)}-byte ES256 signature, expected 64")
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def public_pem_from_jwk(crv: str, x: bytes, y: bytes) -> bytes:
    """The PEM public key of a JSON Web Key's P-256 point."""
    if crv != "P-256":
        raise SigningKeyError(f"the Key Vault signing key is on curve {crv!r}; expected P-256 (cosign's ES256)")
    return public_pem(ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                                    ec.SECP256R1()).public_key())


@dataclass
class KeyVaultSigner:
    """``Signer`` over ``azure.keyvault.keys.crypto.CryptographyClient.sign`` (ES256)."""

    key_id: str
    credential: Any
    _public: bytes = field(default=b"", repr=False)
    _signing_id: str = field(default="", repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyVaultSigner:
        from azure.identity import DefaultAzureCredential

        key_id = settings.env("FACTORY_SIGNING_KEY_ID")
        parse_key_id(key_id)
        return cls(key_id, DefaultAzureCredential())

    def public_key_pem(self) -> bytes:
        """The vault key's public half, as PEM (read once)."""
        if not self._public:
            from azure.core.exceptions import HttpResponseError
            from azure.keyvault.keys import KeyClient

            vault, name, version = parse_key_id(self.key_id)
            try:
                key = KeyClient(vault, self.credential).get_key(name, version)
            except HttpResponseError as exc:
                raise SigningKeyError(f"signing key {self.key_id}: {exc.message}") from None
            jwk = key.key  # JsonWebKey sets its fields from the service's answer: read them by name
            self._public = public_pem_from_jwk(str(getattr(jwk, "crv", "")), bytes(getattr(jwk, "x", None) or b""),
                                               bytes(getattr(jwk, "y", None) or b""))
            self._signing_id = str(key.id)  # sign with the version whose public half was read
        return self._public

    def sign(self, payload: bytes) -> bytes:
        """ES256 over SHA-256 of ``payload`` in the vault, returned as DER."""
        from azure.core.exceptions import HttpResponseError
        from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm

        self.public_key_pem()
        client = CryptographyClient(self._signing_id, self.credential)
        try:
            result = client.sign(SignatureAlgorithm.es256, hashlib.sha256(payload).digest())
        except HttpResponseError as exc:
            raise SigningKeyError(f"signing key {self.key_id}: Key Vault refused to sign: {exc.message}") from None
        return der_signature(result.signature)
