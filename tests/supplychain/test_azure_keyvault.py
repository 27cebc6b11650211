"""The Key Vault signer's offline parts: its key id setting, the ES256 ``r || s`` answer turned into the DER
signature cosign and containers/image check, and the JSON Web Key turned into the PEM verifiers trust."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from factory.adapters.azure.keyvault import der_signature, parse_key_id, public_pem_from_jwk
from factory.ports import SigningKeyError
from factory.supplychain.cosign import verify_bytes


def test_key_id_parts():
    assert parse_key_id("https://kv-mf.vault.azure.net/keys/image-signing/0123abcd") == (
        "https://kv-mf.vault.azure.net", "image-signing", "0123abcd")
    assert parse_key_id("https://kv-mf.vault.azure.net/keys/image-signing") == (
        "https://kv-mf.vault.azure.net", "image-signing", None)


@pytest.mark.parametrize("bad", ["http://kv.vault.azure.net/keys/a/1", "https://kv.vault.azure.net/keys",
                                 "https://kv.vault.azure.net/secrets/a/1", "image-signing"])
def test_key_id_without_https_name_and_version_is_refused_naming_the_setting(bad: str):
    with pytest.raises(SigningKeyError, match="FACTORY_SIGNING_KEY_ID"):
        parse_key_id(bad)


def test_vault_style_signature_verifies_after_conversion():
    key = ec.generate_private_key(ec.SECP256R1())
    r, s = decode_dss_signature(key.sign(b"payload", ec.ECDSA(hashes.SHA256())))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # what Key Vault's ES256 sign answers
    numbers = key.public_key().public_numbers()
    pem = public_pem_from_jwk("P-256", numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big"))
    assert verify_bytes(pem, b"payload", der_signature(raw))
    assert not verify_bytes(pem, b"other", der_signature(raw))


def test_short_signature_and_other_curves_are_refused():
    with pytest.raises(SigningKeyError, match="63-byte"):
        der_signature(b"\x01" * 63)
    with pytest.raises(SigningKeyError, match="P-384"):
        public_pem_from_jwk("P-384", b"\x01" * 48, b"\x01" * 48)
