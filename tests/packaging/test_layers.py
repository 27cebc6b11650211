"""The layer plan, measured on real builds and read back from the registry's manifests: two builds of the same
inputs give one digest; a new version with unchanged code pulls only its artifact; models on the same
dependency set share their bytes; an arm64 image that fails its check under emulation is not pushed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from factory import kit, ports
from factory.adapters.local.host import free_port
from factory.adapters.local.podman import PodmanImageBuilder, remote_image
from factory.adapters.local.registry import LocalImageRegistry, skopeo_manifest
from factory.packaging.context import assemble, model_labels, scoring_check
from factory.packaging.layers import read_image, shared_fraction, update_bytes
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
    verified under emulation (the arm64 layer plan is checked by the update test below)."""
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


def test_unchanged_code_update_pulls_the_artifact_and_siblings_share(artifacts, registry, tmp_path):
    prod = start_registry("layers-prod", free_port(), tmp_path / "prod")
    wine, vibration = REPO / "models" / "wine_cultivar", REPO / "models" / "vibration_anomaly"
    retrained = shutil.copytree(artifacts("wine_cultivar"), tmp_path / "retrained")
    meta = json.loads((retrained / "model.json").read_text())
    (retrained / "model.json").write_text(json.dumps({**meta, "retrained": True}))
    v1 = _build(wine, artifacts("wine_cultivar"), tmp_path / "v1", registry.address, "v1")
    v2 = _build(wine, retrained, tmp_path / "v2", registry.address, "v2", version="2")
    # the sibling on amd64 only: sharing comes from the same base and lock layers, built the same way per
    # architecture; an arm64 sibling would be one more verification under emulation for the same property
    sibling = _build(vibration, artifacts("vibration_anomaly"), tmp_path / "s", registry.address, "v1",
                     arches=("amd64",))
    old, new = (read_image(f"{registry.address}/models/wine-cultivar@{d}", skopeo_manifest) for d in (v1, v2))
    other = read_image(f"{registry.address}/models/vibration-anomaly@{sibling}", skopeo_manifest)
    for arch in ARCHES:
        assert [layer.role for layer in new[arch].layers][-4:] == LAYER_ROLES, arch
        artifact = new[arch].layers[-1].size
        pulled = update_bytes(new[arch], [old[arch]])
        assert pulled <= artifact + 100 * 1024, f"{arch}: an unchanged-code update pulls {pulled} bytes"
        assert pulled < new[arch].total / 50
    assert shared_fraction(new["amd64"], other["amd64"]) >= 0.95
    # promotion copies the whole index by digest (both architectures)
    try:
        promoted = LocalImageRegistry(dev=registry.address, prod=prod.address).promote(
            ports.ImageRef(registry.address, "models/wine-cultivar", digest=v2), "models/wine-cultivar", "v2")
        assert promoted.digest == v2
        assert sorted(read_image(f"{prod.address}/models/wine-cultivar:v2", skopeo_manifest)) == list(ARCHES)
    finally:
        prod.stop()


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
