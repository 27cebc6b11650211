"""The factory's signing key: made once at ``model-factory up`` (private 0600 in a 0700 folder, public
readable), and a missing, unreadable, exposed or mismatched key stops signing with a message naming it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from factory.adapters.local.signing import LocalKeySigner, ensure_key_pair
from factory.ports import SigningKeyError
from factory.supplychain.cosign import key_id, verify_bytes
from factory.supplychain.steps import require_signer
from tests.supplychain.helpers import make_signer


def test_key_pair_is_made_once_private_0600_public_readable(tmp_path: Path):
    private, public = tmp_path / "keys" / "signing.key", tmp_path / "keys" / "signing.pub"
    assert ensure_key_pair(private, public) is True
    first = private.read_bytes()
    assert ensure_key_pair(private, public) is False
    assert private.read_bytes() == first
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    signer = LocalKeySigner(private, public)
    signature = signer.sign(b"payload")
    assert verify_bytes(public.read_bytes(), b"payload", signature)
    assert not verify_bytes(public.read_bytes(), b"other payload", signature)
    assert key_id(public.read_bytes()).startswith("sha256:") and len(key_id(public.read_bytes())) == 71


def test_a_missing_public_key_is_made_again_from_the_private_key(tmp_path: Path):
    signer = make_signer(tmp_path)
    before = signer.public_key.read_bytes()
    signer.public_key.unlink()
    assert ensure_key_pair(signer.private_key, signer.public_key) is False
    assert signer.public_key.read_bytes() == before


def test_missing_key_fails_the_check_naming_the_file_and_the_fix(tmp_path: Path):
    signer = LocalKeySigner(tmp_path / "nowhere" / "signing.key", tmp_path / "nowhere" / "signing.pub")
    with pytest.raises(SigningKeyError, match=r"nowhere/signing\.key: missing \(model-factory up makes"):
        require_signer(signer)


def test_key_readable_by_others_is_refused(tmp_path: Path):
    signer = make_signer(tmp_path)
    signer.private_key.chmod(0o644)
    with pytest.raises(SigningKeyError, match="readable by others .*expected 0600"):
        signer.sign(b"x")


def test_unreadable_key_is_refused_with_a_clear_message(tmp_path: Path):
    signer = make_signer(tmp_path)
    signer.private_key.write_bytes(b"not a key")
    with pytest.raises(SigningKeyError, match="not an unencrypted PEM private key"):
        require_signer(signer)


def test_public_key_of_another_pair_fails_the_check(tmp_path: Path):
    signer = make_signer(tmp_path / "a")
    other = make_signer(tmp_path / "b")
    mixed = LocalKeySigner(signer.private_key, other.public_key)
    with pytest.raises(SigningKeyError, match="not a pair"):
        require_signer(mixed)
