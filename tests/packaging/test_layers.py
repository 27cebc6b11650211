"""The layer plan, measured on real builds and read back from the registry's manifests: two builds of the same
inputs give one digest; an arm64 image that fails its check under emulation is not pushed. What an update pulls
and what siblings share is measured on the edge tests' wine_cultivar index (tests/edge/test_update_layers.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from factory import kit, ports
from factory.adapters.local.host import free_port
from factory.adapters.local.podman import PodmanImageBuilder, remote_image
from factory.adapters.local.registry import skopeo_manifest
from factory.packaging.context import assemble, model_labels, scoring_check
from factory.packaging.layers import read_image
from localstack.registry import start_registry
from tests.packaging.helpers import REPO

pytestmark = pytest.mark.slow
ARCHES = ("amd64", "arm64")
LAYER_ROLES = ["dependencies", "serving code", "model code + config", "model artifact"]


@pytest.fixture()
def registry(tmp_path):
    reg = start_registry("layers", free_port(), tmp_path / "registry")
    yield reg
    reg.stop()


def _build(model_folder: Path, artifacts: Path, dest: Path, registry: str, tag: str, version: str = "1",
           layer_cache: bool = True, run_id: str = "", arches: tuple[str, ...] = ARCHES) -> str:
    labels = model_labels(model_folder.name, version, run_id or f"run-{tag}", "c0de")
    context = assemble(model_folder, artifacts, dest, labels)
    ref = ports.ImageRef(registry=registry, repository=f"models/{model_folder.name.replace('_', '-')}", tag=tag)
    builder = PodmanImageBuilder(arches=arches, layer_cache=layer_cache)
    return builder.build_verify_push(context, ref, scoring_check(model_folder)).digest


def test_same_inputs_built_twice_without_cache_give_one_digest(artifacts, registry, tmp_path):
    """amd64 only: reproducibility is a property of the build, not of the architecture, and an arm64 image is
    verified under emulation (the arm64 layer plan is checked by tests/edge/test_update_layers.py)."""
    wine = REPO / "models" / "wine_cultivar"
    # the same inputs (labels included) under two tags, each built from scratch
    first = _build(wine, artifacts("wine_cultivar"), tmp_path / "a", registry.address, "one", layer_cache=False,
                   run_id="run-repro", arches=("amd64",))
    second = _build(wine, artifacts("wine_cultivar"), tmp_path / "b", registry.address, "two", layer_cache=False,
                    run_id="run-repro", arches=("amd64",))
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
        _build(folder, artifacts("wine_cultivar"), tmp_path / "ctx", registry.address, "broken")
    assert "broken on arm64" in failed.value.logs
    assert remote_image(f"{registry.address}/models/wine-cultivar:broken") is None
