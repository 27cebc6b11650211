"""The supply chain's manifests and blobs on an ACR (``ports.ArtifactStore``) over its data-plane API
(``azure-containerregistry``'s ``ContainerRegistryClient``): the factory's cosign-layout signatures
(``sha256-<hex>.sig``) and DSSE attestations (``sha256-<hex>.att``) beside an image, read and written with the
Function App's managed identity (``DefaultAzureCredential``; AcrPush on the dev and prod registries).

This module and ``acr.py`` are the only ones that call ACR: ``acr.AcrImageRegistry.artifacts`` builds the
client (for its own dev and prod login servers only, so the identity's token never goes to another host) and
hands it to ``AcrArtifactStore``. As ``factory.supplychain.oci`` does for the local registries, every read is
bounded and checked against its digest, and every failure is an ``OciError`` naming the registry.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError

from factory import ports
from factory.supplychain.oci import (
    MAX_ATTACHMENT_BYTES,
    MAX_MANIFEST_BYTES,
    OCI_MANIFEST,
    Manifest,
    OciError,
    TooLarge,
    sha256_digest,
)


@dataclass(frozen=True)
class AcrArtifactStore:
    """``ArtifactStore`` on the ACR ``host`` (login server, ``<name>.azurecr.io``) through ``client``
    (an ``azure.containerregistry.ContainerRegistryClient`` for ``https://<host>``)."""

    host: str
    client: Any

    def _where(self, repository: str, reference: str) -> str:
        separator = "@" if reference.startswith("sha256:") else ":"
        return f"{self.host}/{repository}{separator}{reference}"

    def manifest(self, repository: str, reference: str, max_bytes: int = MAX_MANIFEST_BYTES) -> Manifest | None:
        """The manifest as stored (``get_manifest``; its bytes kept from the response), or None when absent.
        The SDK refuses one over 4 MiB or whose bytes do not match its digest; this checks again."""
        where = self._where(repository, reference)
        bodies: list[bytes] = []

        def keep_body(response: Any) -> None:
            bodies.append(bytes(response.http_response.body()))

        try:
            found = self.client.get_manifest(repository, reference, raw_response_hook=keep_body)
        except ResourceNotFoundError:
            return None
        except (AzureError, ValueError) as exc:
            raise OciError(f"{where}: {exc}") from None
        body = bodies[-1] if bodies else b""
        if len(body) > max_bytes:
            raise TooLarge(f"{where}: {len(body)} bytes, over the limit of {max_bytes}")
        digest = sha256_digest(body)
        if digest != found.digest or (reference.startswith("sha256:") and reference != digest):
            raise OciError(f"{where}: the registry answered other bytes ({digest})")
        return Manifest(body, str(found.media_type or "").split(";")[0].strip(), digest)

    def blob(self, repository: str, digest: str, max_bytes: int = MAX_ATTACHMENT_BYTES) -> bytes:
        """The blob ``digest`` (``download_blob``, read chunk by chunk and stopped past ``max_bytes``)."""
        where = f"blob {digest} of {self.host}/{repository}"
        chunks: list[bytes] = []
        size = 0
        try:
            with self.client.download_blob(repository, digest) as stream:
                for chunk in stream:
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"{where}: over the limit of {max_bytes} bytes")
                    chunks.append(chunk)
        except (AzureError, ValueError) as exc:
            raise OciError(f"{where}: {exc}") from None
        data = b"".join(chunks)
        if sha256_digest(data) != digest:
            raise OciError(f"{where}: its bytes have another digest")
        return data

    def put_blob(self, repository: str, data: bytes) -> str:
        """Upload ``data`` (``upload_blob``); returns its digest, checked against the registry's."""
        digest = sha256_digest(data)
        try:
            stored, _ = self.client.upload_blob(repository, io.BytesIO(data))
        except (AzureError, ValueError) as exc:
            raise OciError(f"uploading blob {digest} to {self.host}/{repository}: {exc}") from None
        if stored != digest:
            raise OciError(f"uploading blob {digest} to {self.host}/{repository}: the registry stored {stored}")
        return digest

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str = OCI_MANIFEST) -> str:
        """Store a manifest under the tag ``reference`` (``set_manifest``; by digest when ``reference`` is
        one); returns its digest, checked against the registry's."""
        digest = sha256_digest(body)
        tag = None if reference.startswith("sha256:") else reference
        if tag is None and reference != digest:
            raise OciError(f"{self._where(repository, reference)}: the manifest's digest is {digest}")
        try:
            stored = self.client.set_manifest(repository, io.BytesIO(body), tag=tag, media_type=media_type)
        except (AzureError, ValueError) as exc:
            raise OciError(f"{self._where(repository, reference)}: {exc}") from None
        if stored != digest:
            raise OciError(f"{self._where(repository, reference)}: the registry stored {stored}, not {digest}")
        return digest


# pyright checks the adapter against its port here
_AcrArtifactStore: type[ports.ArtifactStore] = AcrArtifactStore
