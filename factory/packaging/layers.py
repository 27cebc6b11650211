"""What an image costs a device: its layers per architecture, what each holds, and the bytes an update pulls.

The layer plan (``modelkit`` Dockerfile): base layers, then the locked dependencies, the serving code, the
model's scoring script and config, and the model artifact last. ``layer_roles`` names the layers from the
end, so a base of any number of layers is fine.

``update_bytes(new, held)`` is what a device holding ``held`` (all architectures' layers it has) downloads
to run ``new`` on its architecture: the compressed size of every layer of ``new`` it does not have, plus the
manifest and config. ``shared_fraction(a, b)`` is the part of ``a``'s compressed bytes that ``b`` has too.
``image_facts(new, held)`` gathers, per architecture, what the model card and the lineage show: the image's
size, its update size and how many of its layers a device holding ``held`` has already.
Images are read through a registry's manifests: ``Manifests`` is ``ImageRegistry.manifest`` (the port), or
locally ``factory.adapters.local.registry.skopeo_manifest``. No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from factory.ports import ImageManifest

Manifests = Callable[[str], ImageManifest]  # reference -> its manifest (or index), as the registry stores it

PLAN = ("dependencies", "serving code", "model code + config", "model artifact")
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")


@dataclass(frozen=True)
class Layer:
    digest: str
    size: int  # compressed bytes, as a device downloads them
    role: str = ""


@dataclass
class ArchImage:
    """One architecture's image in an index: its manifest digest, config and layers."""

    arch: str
    digest: str
    manifest_bytes: int
    config_bytes: int
    layers: list[Layer] = field(default_factory=list[Layer])

    @property
    def total(self) -> int:
        return sum(layer.size for layer in self.layers) + self.manifest_bytes + self.config_bytes


def layer_roles(count: int) -> list[str]:
    """The role of each of ``count`` layers under the layer plan (base layers first)."""
    tail = list(PLAN[-count:]) if count < len(PLAN) else list(PLAN)
    return ["base"] * (count - len(tail)) + tail


def repository_of(reference: str) -> str:
    """``host[:port]/path`` of ``host[:port]/path[:tag][@digest]``."""
    name = reference.split("@", 1)[0]
    host, _, path = name.partition("/")
    return f"{host}/{path.rsplit(':', 1)[0]}"


def _arch_image(arch: str, manifest: ImageManifest) -> ArchImage:
    doc = manifest.document
    layers: list[dict[str, Any]] = doc.get("layers") or []
    roles = layer_roles(len(layers))
    return ArchImage(arch=arch, digest=manifest.digest, manifest_bytes=manifest.size,
                     config_bytes=int(doc["config"]["size"]),
                     layers=[Layer(item["digest"], int(item["size"]), role)
                             for item, role in zip(layers, roles, strict=True)])


def read_image(reference: str, manifests: Manifests) -> dict[str, ArchImage]:
    """``{arch: ArchImage}`` of an image index (or of a single-architecture image) in a registry."""
    top = manifests(reference)
    doc = top.document
    repo = repository_of(reference)
    if doc.get("mediaType") in INDEX_TYPES or top.media_type in INDEX_TYPES or "manifests" in doc:
        images: dict[str, ArchImage] = {}
        for entry in doc["manifests"]:
            arch = entry.get("platform", {}).get("architecture", "unknown")
            images[arch] = _arch_image(arch, manifests(f"{repo}@{entry['digest']}"))
        return images
    return {"amd64": _arch_image("amd64", top)}


def update_bytes(new: ArchImage, held: list[ArchImage]) -> int:
    """Bytes a device that has the layers of ``held`` downloads to run ``new``."""
    have = {layer.digest for image in held for layer in image.layers}
    return new.manifest_bytes + new.config_bytes + sum(layer.size for layer in new.layers if layer.digest not in have)


def shared_fraction(image: ArchImage, other: ArchImage) -> float:
    """The fraction of ``image``'s compressed layer bytes that ``other`` holds too."""
    total = sum(layer.size for layer in image.layers)
    theirs = {layer.digest for layer in other.layers}
    return sum(layer.size for layer in image.layers if layer.digest in theirs) / total if total else 0.0


def update_size(new_reference: str, held_reference: str | None, manifests: Manifests) -> dict[str, int]:
    """``{arch: bytes}`` a device holding ``held_reference`` (None: nothing) pulls for ``new_reference``."""
    new = read_image(new_reference, manifests)
    held = read_image(held_reference, manifests) if held_reference else {}
    return {arch: update_bytes(image, [held[arch]] if arch in held else []) for arch, image in sorted(new.items())}


@dataclass(frozen=True)
class ImageFacts:
    """Per architecture: the image's compressed size (layers + manifest + config), the bytes a device holding
    the ``held`` image pulls for it, and how many of its layers that device has already, of how many."""

    size_bytes: dict[str, int]
    update_bytes: dict[str, int]
    layers_shared: dict[str, int]
    layers_total: dict[str, int]


def image_facts(new_reference: str, held_reference: str | None, manifests: Manifests) -> ImageFacts:
    """The ``ImageFacts`` of ``new_reference`` for a device holding ``held_reference`` (None: nothing), read
    from the registries' manifests."""
    new = read_image(new_reference, manifests)
    held = read_image(held_reference, manifests) if held_reference else {}
    size: dict[str, int] = {}
    update: dict[str, int] = {}
    shared: dict[str, int] = {}
    total: dict[str, int] = {}
    for arch, image in sorted(new.items()):
        have = [held[arch]] if arch in held else []
        digests = {layer.digest for old in have for layer in old.layers}
        size[arch] = image.total
        update[arch] = update_bytes(image, have)
        shared[arch] = sum(1 for layer in image.layers if layer.digest in digests)
        total[arch] = len(image.layers)
    return ImageFacts(size, update, shared, total)
