"""The local blob store: Azurite through the Azure adapter, with every pinned (validated) blob also kept in the
stack's state folder, so a crash of Azurite cannot take the bytes a run validated.

Azurite keeps its blob metadata in LokiJS databases that it saves every 5 s (not configurable): SIGKILLed within
5 s of an upload, it comes back without that blob. On Azure, Blob Storage is durable and this gap does not exist,
so the Azure backend uses ``BlobStorage`` as it is. Here an upload to the ``validated`` container is also written
to ``<state>/pins/validated/<run_id>/<file>`` (0600, fsynced) before its URL is returned; a download that finds
the pinned blob gone uploads the kept copy again and reads it. Training still checks the bytes' sha256 against
the lineage (``factory.pinning.check_pinned``), so a kept copy is never trusted more than the blob was.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from azure.storage.blob import BlobServiceClient

from factory import ports
from factory.adapters.azure.blob import BlobStorage
from factory.datasource import blob_of_url
from factory.pinning import VALIDATED_CONTAINER
from factory.ports import BlobNotFound
from factory.private import copy_private
from factory.settings import Settings

PINS_FOLDER = "pins"


class PinnedBlobStorage(BlobStorage):
    """``BlobStore`` on Azurite whose pinned blobs survive Azurite's own crash."""

    def __init__(self, service: BlobServiceClient, pins: Path) -> None:
        super().__init__(service)
        self.pins = pins

    @classmethod
    def from_settings(cls, settings: Settings) -> PinnedBlobStorage:
        return cls(BlobStorage.from_settings(settings).service, settings.state_dir / PINS_FOLDER)

    def kept_copy(self, container: str, name: str) -> Path | None:
        """Where the kept copy of ``container/name`` lives (None: not a pinned blob, or not a safe name)."""
        path = PurePosixPath(name)
        if (container != VALIDATED_CONTAINER or path.is_absolute() or not path.parts
                or any(p in (".", "..") or "\\" in p for p in path.parts)):
            return None
        return self.pins.joinpath(container, *path.parts)

    def upload(self, container: str, name: str, source: Path, content_type: str | None = None) -> str:
        kept = self.kept_copy(container, name)
        if kept is not None:
            copy_private(source, kept)  # first: once the URL is returned, the bytes survive either crash
        return super().upload(container, name, source, content_type)

    def download(self, uri: str, dest: Path, etag: str | None = None) -> Path:
        try:
            return super().download(uri, dest, etag)
        except BlobNotFound:
            ref = blob_of_url(uri, self.account_url)
            kept = None if ref is None else self.kept_copy(ref.container, ref.name)
            if ref is None or kept is None or not kept.is_file():
                raise
            super().upload(ref.container, ref.name, kept, "application/octet-stream")  # Azurite holds it again
            return super().download(uri, dest, etag)


# pyright checks each adapter against its port here (a missing or mistyped method fails `make test`)
_PinnedBlobStorage: type[ports.BlobStore] = PinnedBlobStorage
