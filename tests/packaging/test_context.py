"""Build context assembly: deterministic content hash, labels, the scoring check, and the compare rules."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from factory.packaging.context import (
    CONTEXT_LABEL,
    ContextError,
    assemble,
    build_args,
    extra_labels,
    model_labels,
    scoring_check,
    tar_context,
)
from model_server.compare import compare, split_expected
from tests.packaging.helpers import MODELS, REPO


@pytest.fixture()
def fake_artifacts(tmp_path: Path) -> Path:
    folder = tmp_path / "artifacts"
    folder.mkdir()
    (folder / "model.joblib").write_bytes(b"\x80\x04 pretend pickle")
    (folder / "model.json").write_text(json.dumps({"name": "nyc_taxi", "features": ["a"]}))
    return folder


def test_same_inputs_give_the_same_context_hash(fake_artifacts, tmp_path):
    labels = model_labels("nyc_taxi", "3", "run-1", "abc")
    first = assemble(REPO / "models" / "nyc_taxi", fake_artifacts, tmp_path / "one", labels)
    copy = tmp_path / "artifacts-copy"
    shutil.copytree(fake_artifacts, copy)
    (copy / "model.json").touch()  # a different mtime does not matter
    second = assemble(REPO / "models" / "nyc_taxi", copy, tmp_path / "two", dict(reversed(labels.items())))
    assert first.sha256 == second.sha256
    assert first.labels == second.labels
    assert first.labels[CONTEXT_LABEL] == first.sha256
    assert tar_context(Path(first.path)) == tar_context(Path(second.path))


def test_artifacts_or_labels_change_the_hash(fake_artifacts, tmp_path):
    base = assemble(REPO / "models" / "nyc_taxi", fake_artifacts, tmp_path / "a", model_labels("nyc_taxi", "3"))
    other_version = assemble(REPO / "models" / "nyc_taxi", fake_artifacts, tmp_path / "b",
                             model_labels("nyc_taxi", "4"))
    (fake_artifacts / "model.joblib").write_bytes(b"\x80\x04 retrained")
    retrained = assemble(REPO / "models" / "nyc_taxi", fake_artifacts, tmp_path / "c", model_labels("nyc_taxi", "3"))
    assert len({base.sha256, other_version.sha256, retrained.sha256}) == 3


def test_context_layout_and_build_arguments(fake_artifacts, tmp_path):
    ctx = assemble(REPO / "models" / "wine_cultivar", fake_artifacts, tmp_path / "ctx",
                   model_labels("wine_cultivar", "2", "run-9", "deadbeef"))
    files = sorted(p.relative_to(ctx.path).as_posix() for p in Path(ctx.path).rglob("*") if p.is_file())
    assert files == ["Dockerfile", "expected-response.json", "labels.json", "model/model.joblib", "model/model.json",
                     "model_server/__init__.py", "model_server/__main__.py", "model_server/check.py",
                     "model_server/compare.py", "model_server/modelsig.py", "model_server/server.py",
                     "model_server/signals.py", "requirements.lock", "sample-request.json", "score.py"]
    assert build_args(ctx) == {"MODEL_NAME": "wine_cultivar", "MODEL_VERSION": "2", "SOURCE_COMMIT": "deadbeef",
                               "RUN_ID": "run-9", "CONTEXT_SHA256": ctx.sha256}
    assert extra_labels(ctx)["io.modelfactory.model"] == "wine_cultivar"
    assert CONTEXT_LABEL not in extra_labels(ctx)
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(tar_context(Path(ctx.path))))) as tar:
        assert tar.getnames() == files


def test_a_signed_context_carries_the_model_signature_beside_the_model_and_keeps_its_hash(fake_artifacts, tmp_path):
    from model_server.modelsig import verify_model
    from tests.supplychain.helpers import make_signer

    signer = make_signer(tmp_path / "keys")
    labels = model_labels("wine_cultivar", "2", "run-9", "deadbeef")
    unsigned = assemble(REPO / "models" / "wine_cultivar", fake_artifacts, tmp_path / "plain", labels)
    first = assemble(REPO / "models" / "wine_cultivar", fake_artifacts, tmp_path / "one", labels, signer=signer)
    second = assemble(REPO / "models" / "wine_cultivar", fake_artifacts, tmp_path / "two", labels, signer=signer)
    root = Path(first.path)
    assert (root / "model.sig").read_bytes() != (Path(second.path) / "model.sig").read_bytes()  # ECDSA: random
    assert first.sha256 == second.sha256 != unsigned.sha256  # the signature is left out, the public key is in
    digest = verify_model(root / "model", (root / "model.sig").read_bytes(), signer.public_key_pem())
    assert digest.startswith("sha256:")
    assert (root / "model-signing.pub").read_bytes() == signer.public_key_pem()
    assert build_args(first)["MODEL_SIGNATURE"] == "/app/model.sig" and "MODEL_SIGNATURE" not in build_args(unsigned)


def test_missing_files_and_unsafe_labels_are_named(fake_artifacts, tmp_path):
    (fake_artifacts / "model.joblib").unlink()
    with pytest.raises(ContextError, match="no model.joblib or model.onnx"):
        assemble(REPO / "models" / "nyc_taxi", fake_artifacts, tmp_path / "x", {})
    with pytest.raises(ContextError, match="sample-request.json: missing"):
        assemble(tmp_path, fake_artifacts, tmp_path / "y", {})
    (fake_artifacts / "model.joblib").write_bytes(b"x")
    with pytest.raises(ContextError, match="label io.modelfactory.run-id"):
        assemble(REPO / "models" / "nyc_taxi", fake_artifacts, tmp_path / "z", {"io.modelfactory.run-id": "a\nb"})


@pytest.mark.parametrize("model", MODELS)
def test_every_model_has_a_usable_scoring_check(model):
    check = scoring_check(REPO / "models" / model)
    features_in_request = {key for row in check.request["data"] for key in row}
    assert features_in_request  # rows are objects keyed by feature name: independent of feature order
    assert len(check.expected["predictions"]) == len(check.request["data"])
    assert check.tolerance >= 0


def test_compare_numbers_within_tolerance_and_exact_labels():
    assert compare({"predictions": [6.5, 13.0]}, {"predictions": [6.9, 13.0]}, 3.0) == []
    assert compare({"predictions": [6.5]}, {"predictions": [10.0]}, 3.0) == [
        "response.predictions[0]: expected 6.5 ± 3, got 10.0"]
    assert compare({"predictions": [0, 2]}, {"predictions": [0, 1]}, 0) == [
        "response.predictions[1]: expected 2 ± 0, got 1"]
    assert compare({"predictions": ["b"]}, {"predictions": ["a"]}, 0) == [
        "response.predictions[0]: expected 'b', got 'a'"]
    assert compare({"predictions": [1, 2]}, {"predictions": [1]}, 0) == [
        "response.predictions: expected a list of 2, got 1"]
    assert compare({"predictions": [1]}, {"error": "x"}, 0) == ["response.predictions: missing"]
    assert compare({"predictions": [1.0]}, {"predictions": [None]}, 1) == [
        "response.predictions[0]: expected a number near 1.0, got None"]
    assert compare({"predictions": [100.0]}, {"predictions": [104.0]}, 0, 0.05) == []  # 4 % off, 5 % allowed
    assert compare({"predictions": [100.0]}, {"predictions": [110.0]}, 0, 0.05) == [
        "response.predictions[0]: expected 100.0 ± 0 or 0.05 relative, got 110.0"]


def test_expected_response_format_is_checked():
    assert split_expected({"predictions": [1], "tolerance": 2}) == ({"predictions": [1]}, 2.0, 0.0)
    assert split_expected({"predictions": [1], "tolerance": {"rel": 0.01}}) == ({"predictions": [1]}, 0.0, 0.01)
    with pytest.raises(ValueError, match="unknown keys"):
        split_expected({"predictions": [1], "tolerance": {"relative": 0.01}})
    with pytest.raises(ValueError, match='"predictions"'):
        split_expected({"prediction": [1]})
    with pytest.raises(ValueError, match="tolerance"):
        split_expected({"predictions": [1], "tolerance": -1})


def test_the_context_takes_the_kit_files_unless_the_model_has_its_own(fake_artifacts, tmp_path):
    shared = assemble(REPO / "models" / "wine_cultivar", fake_artifacts, tmp_path / "shared", model_labels("w", "1"))
    kit = REPO / "modelkit"
    for name, source in (("Dockerfile", kit / "serving" / "Dockerfile"), ("score.py", kit / "serving" / "score.py"),
                         ("requirements.lock", kit / "environments" / "sklearn" / "requirements.lock")):
        assert (Path(shared.path) / name).read_bytes() == source.read_bytes()
    folder = tmp_path / "models" / "wine_own"
    shutil.copytree(REPO / "models" / "wine_cultivar" / "model", folder / "model")
    (folder / "model" / "score.py").write_text("def init():\n    pass\n\n\ndef run(raw):\n    return {}\n")
    own = assemble(folder, fake_artifacts, tmp_path / "own", model_labels("w", "1"))
    assert (Path(own.path) / "score.py").read_text().startswith("def init()")  # the model's own file wins
    assert (Path(own.path) / "Dockerfile").read_bytes() == (kit / "serving" / "Dockerfile").read_bytes()
    assert own.sha256 != shared.sha256
