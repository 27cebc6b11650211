"""Dependency locks: every set is locked with hashes for both architectures and agrees with its pins."""

from __future__ import annotations

from pathlib import Path

import pytest

from factory.packaging import deps
from factory.packaging.context import ENVIRONMENTS, lock_file

REPO = Path(__file__).resolve().parents[2]
LOCKS = sorted(ENVIRONMENTS.glob("*/requirements.lock"))


def test_there_is_a_lock_per_dependency_set():
    assert lock_file("sklearn") in LOCKS and lock_file("onnx") in LOCKS


@pytest.mark.parametrize("lock", LOCKS, ids=lambda p: p.parent.name)
def test_lock_pins_every_requirement_with_hashes(lock):
    text = deps.check_lock(lock)
    locked = deps.pinned(lock)
    requirements = lock.parent / "requirements.txt"
    if not requirements.is_file() and lock.parent.name == "sklearn":  # until the kit holds the set's pins
        requirements = REPO / "models" / "wine_cultivar" / "model" / "requirements.txt"
    for name, version in (deps.pinned(requirements) if requirements.is_file() else {}).items():
        assert locked.get(name) == version, f"{lock}: {name}=={version} from {requirements} is not locked"
    # numpy ships one wheel per architecture: both hashes are there
    numpy = next(line for line in text.splitlines() if line.startswith("numpy=="))
    assert numpy.count("--hash=sha256:") >= 2


def test_malformed_lock_names_file_and_line(tmp_path):
    bad = tmp_path / "requirements.lock"
    bad.write_text("numpy==2.4.6 --hash=sha256:" + "a" * 64 + "\nscipy>=1\n")
    with pytest.raises(deps.LockError, match=r"requirements.lock, line 2: expected 'name==version"):
        deps.check_lock(bad)
    with pytest.raises(deps.LockError, match="make lock"):
        deps.check_lock(tmp_path / "missing.lock")


def test_pip_targets_the_architecture():
    args = deps.pip_platform_args("arm64")
    assert "--only-binary=:all:" in args and "manylinux2014_aarch64" in args and "manylinux_2_28_aarch64" in args
    with pytest.raises(ValueError, match="riscv"):
        deps.pip_platform_args("riscv")
