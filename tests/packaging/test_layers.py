"""The layer plan, measured on real builds and read back from the registry's manifests: two builds of the same
inputs give one digest; an arm64 image that fails its check under emulation is not pushed. What an update pulls
and what siblings share is measured on the edge tests' wine_cultivar index (tests/edge/test_update_layers.py)."""

from __future__ import annotations

import shutil

import pytest

from factory import kit, ports
from factory.adapters.local.host import free_port
from factory.adapters.local.podman import remote_image
from factory.adapters.local.registry import skopeo_manifest
from factory.packaging.layers import read_image
from localstack.registry import start_registry
from tests.packaging.helpers import LAYER_ROLES, REPO, build_pushed

pytestmark = pytest.mark.slow


@pytest.fixture()
def registry(tmp_path):
    reg = start_registry("layers", free_port(), tmp_path / "registry")
    yield reg
    reg.stop()


def test_same_inputs_built_twice_without_cache_give_one_digest(artifacts, registry, tmp_path):
    """amd64 only: reproducibility is a property of the build, not of the architecture, and an arm64 image is
    verified under emulation (the arm64 layer plan is checked by tests/edge/test_update_layers.py)."""
    wine = REPO / "models" / "wine_cultivar"
    # the same inputs (labels included) under two tags, each built from scratch
    first = build_pushed(wine, artifacts("wine_cultivar"), tmp_path / "a", registry.address, "one",
                         layer_cache=False, run_id="run-repro", arches=("amd64",))
    second = build_pushed(wine, artifacts("wine_cultivar"), tmp_path / "b", registry.address, "two",
                          layer_cache=False, run_id="run-repro", arches=("amd64",))
    assert first == second
    index = read_image(f"{registry.address}/models/wine-cultivar@{first}", skopeo_manifest)
    assert sorted(index) == ["amd64"]
    assert [layer.role for layer in index["amd64"].layers][-4:] == LAYER_ROLES


def test_arm64_image_failing_under_emulation_is_not_pushed(artifacts, registry, tmp_path):
    folder = shutil.copytree(REPO / "models" / "wine_cultivar", tmp_path / "wine_cultivar")
    score = folder / "model" / "score.py"  # the model's own score.py overrides the kit's
    kit_score = kit.serving_file(folder, "score.py")
    assert kit_score is not None
    score.write_text(kit_score.read_text().replace(
        'def init() -> None:\n', 'def init() -> None:\n    import platform\n    if platform.machine() == "aarch64":\n'
        '        raise RuntimeError("this build is broken on arm64")\n', 1))
    with pytest.raises(ports.VerificationFailed, match="verification failed on arm64") as failed:
        build_pushed(folder, artifacts("wine_cultivar"), tmp_path / "ctx", registry.address, "broken")
    assert "broken on arm64" in failed.value.logs
    assert remote_image(f"{registry.address}/models/wine-cultivar:broken") is None
