"""Image facts read from a real registry's manifests: per architecture, the image's compressed size, the bytes a
device holding the production version pulls, and the layers it holds already; the model card shows them."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract import Lineage
from factory.adapters.local.host import free_port
from factory.adapters.local.registry import skopeo_manifest
from factory.approval import ApprovalClaim
from factory.card import build_card
from factory.packaging.layers import image_facts
from function_app import pages
from localstack.registry import start_registry

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX = "application/vnd.docker.distribution.manifest.list.v2+json"


@pytest.fixture()
def registry(tmp_path: Path) -> Iterator[str]:
    reg = start_registry("facts", free_port(), tmp_path)
    try:
        yield reg.address
    finally:
        reg.stop()


def _blob(registry: str, repo: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    req = urllib.request.Request(f"http://{registry}/v2/{repo}/blobs/uploads/", method="POST", data=b"")
    with urllib.request.urlopen(req) as resp:
        location = resp.headers["Location"]
    location = f"http://{registry}{location}" if location.startswith("/") else location
    sep = "&" if "?" in location else "?"
    urllib.request.urlopen(urllib.request.Request(f"{location}{sep}digest={digest}", method="PUT", data=data,
                                                  headers={"Content-Type": "application/octet-stream"})).close()
    return digest


def _put(registry: str, repo: str, ref: str, body: bytes, media_type: str) -> str:
    urllib.request.urlopen(urllib.request.Request(f"http://{registry}/v2/{repo}/manifests/{ref}", method="PUT",
                                                  data=body, headers={"Content-Type": media_type})).close()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def push_index(registry: str, repo: str, tag: str, layers: dict[str, list[bytes]]) -> dict[str, dict[str, int]]:
    """Push an index of one image per architecture with these layer blobs; returns per arch the manifest and
    config sizes (what a test needs to know the exact bytes a device downloads)."""
    entries, sizes = [], {}
    for arch, blobs in layers.items():
        config = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                             "config": {"Labels": {"tag": tag}}}).encode()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST, "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json", "digest": _blob(registry, repo, config),
            "size": len(config)}, "layers": [
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                 "digest": _blob(registry, repo, b), "size": len(b)} for b in blobs]}).encode()
        digest = _put(registry, repo, f"sha256:{hashlib.sha256(manifest).hexdigest()}", manifest, MANIFEST)
        entries.append({"mediaType": MANIFEST, "digest": digest, "size": len(manifest),
                        "platform": {"architecture": arch, "os": "linux"}})
        sizes[arch] = {"manifest": len(manifest), "config": len(config)}
    _put(registry, repo, tag, json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries}).encode(),
         INDEX)
    return sizes


def _layers(artifact: bytes) -> dict[str, list[bytes]]:
    """The layer plan per architecture: base, dependencies (arch-specific), serving code, model code, artifact."""
    return {arch: [f"base {arch}".encode() * 300, f"deps {arch}".encode() * 5000, b"serving code" * 40,
                   b"model code" * 10, artifact] for arch in ("amd64", "arm64")}


def test_a_new_version_with_the_same_code_costs_a_device_its_artifact_and_shares_every_other_layer(registry):
    repo = "models/wine-cultivar"
    push_index(registry, repo, "v1", _layers(b"artifact one" * 100))
    new_layers = _layers(b"artifact two, a little larger" * 100)
    sizes = push_index(registry, repo, "v2", new_layers)

    facts = image_facts(f"{registry}/{repo}:v2", f"{registry}/{repo}:v1", skopeo_manifest)
    for arch, blobs in new_layers.items():
        overhead = sizes[arch]["manifest"] + sizes[arch]["config"]
        assert facts.size_bytes[arch] == sum(len(b) for b in blobs) + overhead
        assert facts.update_bytes[arch] == len(b"artifact two, a little larger" * 100) + overhead
        assert (facts.layers_shared[arch], facts.layers_total[arch]) == (4, 5)

    first = image_facts(f"{registry}/{repo}:v1", None, skopeo_manifest)  # nothing in production: the whole image
    assert first.update_bytes == first.size_bytes and first.layers_shared == {"amd64": 0, "arm64": 0}


def test_a_code_change_also_pulls_the_model_code_layer(registry):
    repo = "models/vibration-anomaly"
    push_index(registry, repo, "v1", _layers(b"same artifact"))
    changed = {arch: [*blobs[:3], b"model code, changed" * 10, blobs[4]]
               for arch, blobs in _layers(b"same artifact").items()}
    sizes = push_index(registry, repo, "v2", changed)
    facts = image_facts(f"{registry}/{repo}:v2", f"{registry}/{repo}:v1", skopeo_manifest)
    assert facts.update_bytes["arm64"] == len(b"model code, changed" * 10) + sum(sizes["arm64"].values())
    assert facts.layers_shared == {"amd64": 4, "arm64": 4}


def test_the_model_card_shows_size_update_size_and_layers_shared_per_architecture():
    lineage = {"model": "wine_cultivar", "model_version": "2", "metrics": {},
               "image": "127.0.0.1:5100/models/wine-cultivar@sha256:" + "ab" * 32,
               "image_digest": "sha256:" + "ab" * 32, "update_from": "127.0.0.1:5200/models/wine-cultivar:v1",
               "image_bytes": {"amd64": 101_800_000, "arm64": 97_700_000},
               "update_bytes": {"amd64": 9_200, "arm64": 9_150},
               "layers_shared": {"amd64": 7, "arm64": 7}, "layers_total": {"amd64": 8, "arm64": 8}}
    card = build_card("r", Lineage.from_dict(lineage))
    assert card.image.size_bytes == {"amd64": 101_800_000, "arm64": 97_700_000}
    page = pages.confirm(ApprovalClaim("r", "approve", "2", "sha256:" + "ab" * 32, 0), "", card).get_body().decode()
    image_section = page.split("<h2>Image", 1)[1].split("<h2>", 1)[0]
    for expected in ("amd64: 101.8 MB", "arm64: 97.7 MB", "amd64: 9.2 KB", "arm64: 9.2 KB", "amd64: 7 of 8",
                     "arm64: 7 of 8", "127.0.0.1:5200/models/wine-cultivar:v1"):
        assert expected in image_section, expected
    assert "not measured" not in image_section
