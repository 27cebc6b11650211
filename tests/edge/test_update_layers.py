"""What a device pulls for a new version, measured on real builds read back from the registry's manifests: an
update whose code is unchanged pulls only its artifact, on each architecture; models on the same dependency set
share their bytes; promotion copies the whole index by digest.

Version 1 is the edge tests' wine_cultivar index (``wine_image``, amd64 + arm64, each verified), so this test
builds only version 2 and a sibling."""

from __future__ import annotations

import json
import shutil

import pytest

from factory import ports
from factory.adapters.local.host import free_port
from factory.adapters.local.registry import LocalImageRegistry, skopeo_manifest
from factory.packaging.layers import read_image, shared_fraction, update_bytes
from localstack.registry import start_registry
from tests.packaging.helpers import LAYER_ROLES, REPO, build_pushed, train_with_src

pytestmark = pytest.mark.slow
ARCHES = ("amd64", "arm64")


def test_unchanged_code_update_pulls_the_artifact_and_siblings_share(registry, wine_image, wine_artifacts, tmp_path):
    retrained = shutil.copytree(wine_artifacts, tmp_path / "retrained")
    meta = json.loads((retrained / "model.json").read_text())
    (retrained / "model.json").write_text(json.dumps({**meta, "retrained": True}))
    v2 = build_pushed(REPO / "models" / "wine_cultivar", retrained, tmp_path / "v2", registry, "2", version="2")
    # the sibling on amd64 only: sharing comes from the same base and lock layers, built the same way per
    # architecture; an arm64 sibling would be one more verification under emulation for the same property
    vibration = train_with_src("vibration_anomaly", tmp_path / "train-vibration")
    sibling = build_pushed(REPO / "models" / "vibration_anomaly", vibration, tmp_path / "s", registry, "1",
                           arches=("amd64",))
    old = read_image(wine_image, skopeo_manifest)
    new = read_image(f"{registry}/models/wine-cultivar@{v2}", skopeo_manifest)
    other = read_image(f"{registry}/models/vibration-anomaly@{sibling}", skopeo_manifest)
    assert sorted(old) == sorted(new) == list(ARCHES)
    for arch in ARCHES:
        assert [layer.role for layer in new[arch].layers][-4:] == LAYER_ROLES, arch
        artifact = new[arch].layers[-1].size
        pulled = update_bytes(new[arch], [old[arch]])
        assert pulled <= artifact + 100 * 1024, f"{arch}: an unchanged-code update pulls {pulled} bytes"
        assert pulled < new[arch].total / 50
    assert shared_fraction(new["amd64"], other["amd64"]) >= 0.95
    # promotion copies the whole index by digest (both architectures)
    prod = start_registry("layers-prod", free_port(), tmp_path / "prod")
    try:
        promoted = LocalImageRegistry(dev=registry, prod=prod.address).promote(
            ports.ImageRef(registry, "models/wine-cultivar", digest=v2), "models/wine-cultivar", "v2")
        assert promoted.digest == v2
        assert sorted(read_image(f"{prod.address}/models/wine-cultivar:v2", skopeo_manifest)) == list(ARCHES)
    finally:
        prod.stop()
