"""The kit's verify_data stage, run as its pipeline step runs it (a snapshot of the model's src/ plus the kit
file): the validated bytes pass on unchanged, other bytes stop the pipeline before any stage reads them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from factory.kit import run_stage

WINE = Path(__file__).resolve().parents[2] / "models" / "wine_cultivar"
DATA = WINE / "data" / "wine.csv"
SHA = hashlib.sha256(DATA.read_bytes()).hexdigest()


def test_the_validated_bytes_are_passed_on(tmp_path):
    out = tmp_path / "verified" / "verified"
    done = run_stage(WINE, "verify_data", "--data", DATA, "--sha256", SHA, "--verified", out)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == DATA.read_bytes()
    assert f"sha256 {SHA}: matches the validated sha256" in done.stderr


def test_bytes_changed_after_validation_stop_the_pipeline(tmp_path):
    changed = tmp_path / "wine.csv"
    changed.write_bytes(DATA.read_bytes().replace(b"14.23", b"99.99", 1))
    out = tmp_path / "verified" / "verified"
    done = run_stage(WINE, "verify_data", "--data", changed, "--sha256", SHA, "--verified", out)
    assert done.returncode == 1
    assert f"is not the validated {SHA}; the data changed after validation and is not trained" in done.stderr
    assert not out.exists() and not out.parent.exists()


@pytest.mark.parametrize("bad", ["abc", "A" * 64, "g" * 64, "0" * 63 + "; rm -rf /"])
def test_a_malformed_hash_is_refused(bad, tmp_path):
    done = run_stage(WINE, "verify_data", "--data", DATA, "--sha256", bad, "--verified", tmp_path / "out")
    assert done.returncode == 1 and "expected 64 lower-case hex digits" in done.stderr
    assert not (tmp_path / "out").exists()


def test_without_a_hash_the_copy_says_it_was_not_verified(tmp_path):
    done = run_stage(WINE, "verify_data", "--data", DATA, "--verified", tmp_path / "out")
    assert done.returncode == 0 and "NOT verified against a pin" in done.stderr
    assert (tmp_path / "out").read_bytes() == DATA.read_bytes()


def test_a_folder_is_not_data(tmp_path):
    done = run_stage(WINE, "verify_data", "--data", tmp_path, "--sha256", SHA, "--verified", tmp_path / "out")
    assert done.returncode == 1 and "not a file; the pipeline's data input must be a uri_file" in done.stderr
