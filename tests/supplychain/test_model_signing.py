"""The model's own signature (OpenSSF model-signing format): the ``model_signing`` library (1.1.1) and the
factory agree both ways (a bundle the library made verifies with the scoring server's stdlib verifier, one the
factory made verifies with the library), and a changed, added or missing file, another key, or a corrupt or
oversized bundle is refused by the server's verifier."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factory.adapters.local.signing import LocalKeySigner
from factory.supplychain.modelsig import PUBLIC_KEY_FILE, SIGNATURE_FILE, signed_model_digest, write_signature
from model_server.modelsig import MAX_BUNDLE_BYTES, ModelSignatureError, check_from_env, verify_model


def model_folder(root: Path) -> Path:
    folder = root / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.joblib").write_bytes(b"\x80\x04weights" * 1000)
    (folder / "model.json").write_text('{"task": "classification"}')
    (folder / "sub" / "labels.txt").write_text("a\nb\n")
    return folder


def library_sign(folder: Path, key: Path, out: Path) -> bytes:
    import model_signing

    model_signing.signing.Config().use_elliptic_key_signer(private_key=key).sign(folder, out)
    return out.read_bytes()


def library_verify(folder: Path, public: Path, bundle: Path) -> None:
    import model_signing

    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public).verify(folder, bundle)


def test_a_bundle_made_by_model_signing_verifies_with_the_servers_verifier_and_a_tampered_file_fails(
        tmp_path: Path, signer: LocalKeySigner):
    folder = model_folder(tmp_path)
    bundle = library_sign(folder, signer.private_key, tmp_path / "model.sig")
    digest = verify_model(folder, bundle, signer.public_key_pem())
    assert digest.startswith("sha256:") and len(digest) == 71
    (folder / "model.joblib").write_bytes(b"\x80\x04weightz" * 1000)
    with pytest.raises(ModelSignatureError, match="changed: model.joblib"):
        verify_model(folder, bundle, signer.public_key_pem())


def test_a_bundle_the_factory_made_verifies_with_model_signing_and_the_server(tmp_path: Path, signer: LocalKeySigner):
    folder = model_folder(tmp_path)
    digest = write_signature(folder, tmp_path, signer, "wine_cultivar")
    library_verify(folder, tmp_path / PUBLIC_KEY_FILE, tmp_path / SIGNATURE_FILE)
    assert verify_model(folder, (tmp_path / SIGNATURE_FILE).read_bytes(), signer.public_key_pem()) == digest
    (folder / "sub" / "labels.txt").write_text("a\nc\n")
    with pytest.raises(ValueError, match="Signature mismatch"):  # the library refuses the tampered folder too
        library_verify(folder, tmp_path / PUBLIC_KEY_FILE, tmp_path / SIGNATURE_FILE)


@pytest.mark.parametrize("change,why", [
    (lambda f: (f / "extra.py").write_text("import os"), "not signed: extra.py"),
    (lambda f: (f / "model.json").unlink(), "missing: model.json"),
    (lambda f: (f / "link").symlink_to(f / "model.json"), "link is a symlink"),
], ids=["added", "removed", "symlink"])
def test_an_added_removed_or_linked_file_is_refused(tmp_path: Path, signer: LocalKeySigner, change, why):
    folder = model_folder(tmp_path)
    write_signature(folder, tmp_path, signer, "m")
    change(folder)
    with pytest.raises(ModelSignatureError, match=why):
        verify_model(folder, (tmp_path / SIGNATURE_FILE).read_bytes(), signer.public_key_pem())


def test_another_keys_or_a_corrupt_or_oversized_bundle_is_refused(tmp_path: Path, signer: LocalKeySigner,
                                                                   foreign_signer: LocalKeySigner):
    folder = model_folder(tmp_path)
    write_signature(folder, tmp_path, foreign_signer, "m")
    foreign = (tmp_path / SIGNATURE_FILE).read_bytes()
    with pytest.raises(ModelSignatureError, match="another key"):
        verify_model(folder, foreign, signer.public_key_pem())
    no_hint = json.loads(foreign)
    no_hint["verificationMaterial"]["publicKey"]["hint"] = ""
    with pytest.raises(ModelSignatureError, match="not signed by the factory's model signing key"):
        verify_model(folder, json.dumps(no_hint).encode(), signer.public_key_pem())
    for corrupt, why in ((b"\xff\xfe", "not JSON"), (b"[]", "expected a JSON object"),
                         (b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "dsseEnvelope": '
                          b'{"payloadType": "application/vnd.in-toto+json", "payload": "%%", "signatures": []}}',
                          "not base64"),
                         (b" " * (MAX_BUNDLE_BYTES + 1), "over")):
        with pytest.raises(ModelSignatureError, match=why):
            verify_model(folder, corrupt, signer.public_key_pem())


def test_the_server_check_follows_the_images_environment(tmp_path: Path, signer: LocalKeySigner):
    folder = model_folder(tmp_path)
    write_signature(folder, tmp_path, signer, "m")
    env = {"MODEL_SIGNATURE": str(tmp_path / SIGNATURE_FILE), "AZUREML_MODEL_DIR": str(folder)}
    assert check_from_env(env).startswith(f"{folder} matches")
    assert check_from_env({"AZUREML_MODEL_DIR": str(folder)}) == ""  # an image that declares no signature
    (tmp_path / PUBLIC_KEY_FILE).unlink()
    with pytest.raises(ModelSignatureError, match="No such file"):
        check_from_env(env)


def test_a_corrupt_signature_in_a_build_context_is_a_clear_error_naming_the_file(tmp_path: Path):
    assert signed_model_digest(tmp_path) == ""  # no signature: nothing to report
    for corrupt in (b"{not json", b'{"dsseEnvelope": {"payload": "!!"}}', b'{"dsseEnvelope": 3}', b"[]"):
        (tmp_path / SIGNATURE_FILE).write_bytes(corrupt)
        with pytest.raises(ValueError, match="not a model-signing bundle") as err:
            signed_model_digest(tmp_path)
        assert str(tmp_path / SIGNATURE_FILE) in str(err.value)
