"""``LocalImageRegistry``, the ``ImageRegistry`` adapter over the local dev and prod registries
(``localstack/registry.py``): manifest digests by tag, and promotion by digest from the dev into the prod
registry with ``skopeo copy --all --preserve-digests`` (every image of an index), and manifests as stored
(``skopeo inspect --raw``: ``skopeo_manifest``, also what the local tools read images with).

Settings: ``FACTORY_DEV_REGISTRY`` (default ``127.0.0.1:5100``) and ``FACTORY_PROD_REGISTRY`` (default
``127.0.0.1:5200``), each ``host:port`` of a plain-HTTP registry.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass

from factory import ports
from factory.settings import Settings

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])


class RegistryError(RuntimeError):
    """A local registry refused a request or a promotion went wrong."""


def manifest_digest(registry: str, repository: str, reference: str, timeout: float = 10.0) -> str | None:
    """``Docker-Content-Digest`` of ``repository:reference`` on a plain-HTTP registry; None when absent."""
    req = urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/{reference}", method="HEAD",
                                 headers={"Accept": MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.headers.get("Docker-Content-Digest")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise RegistryError(f"HEAD {req.full_url} answered {exc.code}") from None


def skopeo_manifest(reference: str) -> ports.ImageManifest:
    """The manifest (or index) of ``reference`` on a plain-HTTP registry, as stored (``skopeo inspect --raw``);
    LookupError when skopeo cannot read it."""
    proc = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{reference}"],
                          capture_output=True, timeout=120)
    if proc.returncode != 0:
        raise LookupError(f"{reference}: {proc.stderr.decode(errors='replace').strip()[-500:]}")
    document = json.loads(proc.stdout)
    return ports.ImageManifest(digest="sha256:" + hashlib.sha256(proc.stdout).hexdigest(), size=len(proc.stdout),
                               document=document, media_type=str(document.get("mediaType", "")))


@dataclass(frozen=True)
class LocalImageRegistry:
    """``ImageRegistry`` over the local dev and prod registries (plain HTTP on loopback)."""

    dev: str = "127.0.0.1:5100"
    prod: str = "127.0.0.1:5200"

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalImageRegistry:
        return cls(dev=settings.env("FACTORY_DEV_REGISTRY", "127.0.0.1:5100"),
                   prod=settings.env("FACTORY_PROD_REGISTRY", "127.0.0.1:5200"))

    def dev_host(self) -> str:
        """The local dev registry (``FACTORY_DEV_REGISTRY``)."""
        return self.dev

    def prod_host(self) -> str:
        """The local prod registry (``FACTORY_PROD_REGISTRY``)."""
        return self.prod

    def digest(self, ref: ports.ImageRef) -> str | None:
        """The manifest digest of ``ref`` (by tag, or by digest to check it exists), or None."""
        return manifest_digest(ref.registry, ref.repository, ref.digest or ref.tag)

    def manifest(self, reference: str) -> ports.ImageManifest:
        """The manifest (or index) of ``reference``, as the registry stores it."""
        return skopeo_manifest(reference)

    def promote(self, source: ports.ImageRef, target_repository: str, tag: str) -> ports.ImageRef:
        """Copy ``source`` by digest into the prod registry as ``target_repository:tag``; same digest there.

        Idempotent: when prod's tag already points at that digest nothing is copied.
        """
        digest = source.digest or self.digest(source)
        if not digest:
            raise LookupError(f"{source}: no such image in {source.registry}")
        target = ports.ImageRef(self.prod, target_repository, tag, digest)
        if manifest_digest(self.prod, target_repository, tag) == digest:
            return target
        src = f"docker://{source.registry}/{source.repository}@{digest}"
        dst = f"docker://{self.prod}/{target_repository}:{tag}"
        proc = subprocess.run(["skopeo", "copy", "--all", "--preserve-digests", "--src-tls-verify=false",
                               "--dest-tls-verify=false", src, dst], capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RegistryError(f"skopeo copy {src} {dst} failed: {proc.stderr.strip()[-1500:]}")
        copied = manifest_digest(self.prod, target_repository, tag)
        if copied != digest:
            raise RegistryError(f"promotion changed the digest: {src} became {copied} in {dst}")
        return target


# pyright checks each adapter against its port here (a missing or mistyped method fails `make test`)
_LocalImageRegistry: type[ports.ImageRegistry] = LocalImageRegistry
