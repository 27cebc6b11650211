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


def _set(tmp_path: Path, prune: str | None) -> Path:
    lock = tmp_path / "requirements.lock"
    lock.write_text("numpy==2.4.6 --hash=sha256:" + "0" * 64 + "\n")
    if prune is not None:
        (tmp_path / deps.PRUNE_FILE).write_text(prune)
    return lock


@pytest.mark.parametrize("entry", ["../outside", "/etc/passwd", "a b", "pkg/../../x"])
def test_a_prune_entry_outside_the_installed_folder_is_refused_with_file_and_line(tmp_path, entry):
    lock = _set(tmp_path, f"# comment\nok/path\n{entry}\n")
    with pytest.raises(deps.LockError, match=rf"{deps.PRUNE_FILE}, line 3: expected a relative path"):
        deps.prune_patterns(lock)


def test_prune_removes_files_and_folders_counts_bytes_and_refuses_a_stale_entry(tmp_path):
    root = tmp_path / "site"
    (root / "pkg" / "tools").mkdir(parents=True)
    (root / "pkg" / "tools" / "a.py").write_bytes(b"12345")
    (root / "pkg" / "libc_api.so.1").write_bytes(b"123")
    (root / "pkg" / "binding.so").write_bytes(b"kept")
    assert deps.prune(root, ["pkg/libc_api.so.*", "pkg/tools"], "the set") == 8
    assert sorted(p.name for p in root.rglob("*")) == ["binding.so", "pkg"]
    with pytest.raises(deps.LockError, match=r"the set: serving-prune.txt entry 'pkg/tools' matches nothing"):
        deps.prune(root, ["pkg/tools"], "the set")


def test_the_prune_list_is_part_of_the_installed_sets_identity(tmp_path):
    lock = _set(tmp_path, None)
    plain = deps.lock_digest(lock)
    _set(tmp_path, "pkg/tools\n")
    assert deps.lock_digest(lock) != plain


@pytest.mark.slow
def test_the_onnx_sets_prune_list_matches_on_both_architectures_and_keeps_the_binding(tmp_path):
    lock = lock_file("onnx")
    assert deps.prune_patterns(lock)
    for arch in ("amd64", "arm64"):
        installed = deps.install(lock, arch, tmp_path / "deps")
        assert not list(installed.glob(".*"))  # only the wheels' files: no marker goes into the layer
        capi = installed / "onnxruntime" / "capi"
        assert not list(capi.glob("libonnxruntime.so*"))
        assert not (installed / "onnxruntime" / "tools").exists()
        assert list(capi.glob("onnxruntime_pybind11_state*.so"))
