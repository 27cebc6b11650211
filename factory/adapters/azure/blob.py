"""Blob Storage (the incoming-data container): the only module that calls ``azure-storage-blob``.

On Azure it authenticates with managed identity (``DefaultAzureCredential``) against
``INCOMING_STORAGE_ACCOUNT_URL``; locally it takes Azurite's connection string from
``FACTORY_BLOB_CONNECTION_STRING`` (``UseDevelopmentStorage=true`` works).

Every call goes to the configured account only: a URL is accepted only when it names a blob of that account
(``factory.datasource.blob_of_url``), and the client is always made from the account's own service client, so
the credential (shared key or managed-identity token) is never sent to a host named by a caller.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobServiceClient, ContentSettings

from factory import ports
from factory.datasource import DataSourceError, blob_of_url
from factory.ports import BlobChanged, BlobNotFound, BlobProperties
from factory.settings import Settings

AZURITE_CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)


def _content_type(name: str) -> str:
    """The Content-Type of an upload from its name: a CSV or an archive."""
    lowered = name.lower()
    if lowered.endswith(".zip"):
        return "application/zip"
    if lowered.endswith((".tar.gz", ".tgz")):
        return "application/gzip"
    return "text/csv"


@dataclass(frozen=True)
class BlobItem:
    """One blob as listed: name, URL, ETag and size."""

    name: str
    url: str
    etag: str
    size: int


class BlobStorage:
    """``BlobStore`` port over azure-storage-blob."""

    def __init__(self, service: BlobServiceClient) -> None:
        self.service = service

    @classmethod
    def from_settings(cls, settings: Settings) -> BlobStorage:
        conn = settings.env("FACTORY_BLOB_CONNECTION_STRING", "")
        if conn:
            if conn.strip() == "UseDevelopmentStorage=true":
                conn = AZURITE_CONNECTION_STRING
            return cls(BlobServiceClient.from_connection_string(conn))
        from azure.identity import DefaultAzureCredential

        url = settings.env("INCOMING_STORAGE_ACCOUNT_URL")
        return cls(BlobServiceClient(account_url=url, credential=DefaultAzureCredential()))

    @property
    def account_url(self) -> str:
        """The configured account's blob endpoint (``https://<account>.blob.core.windows.net``, or Azurite's)."""
        return self.service.url.rstrip("/")

    def url_of(self, container: str, name: str) -> str:
        return self.service.get_blob_client(container, name).url

    def _blob(self, uri: str) -> BlobClient:
        ref = blob_of_url(uri, self.account_url)
        if ref is None:
            raise DataSourceError(f"{uri} is not a blob of the configured storage account {self.account_url}")
        return self.service.get_blob_client(ref.container, ref.name)

    def download(self, uri: str, dest: Path, etag: str | None = None) -> Path:
        """Download the blob at ``uri`` to the file ``dest`` (streamed); with ``etag``, only that version of it
        (``ResourceModifiedError`` once the blob was overwritten)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(dest.suffix + ".part")
        condition = {"etag": etag, "match_condition": MatchConditions.IfNotModified} if etag else {}
        try:
            with tmp.open("wb") as out:
                self._blob(uri).download_blob(**condition).readinto(out)
        except ResourceModifiedError:
            tmp.unlink(missing_ok=True)
            raise BlobChanged(f"{uri} is no longer at ETag {etag}") from None
        except ResourceNotFoundError:
            tmp.unlink(missing_ok=True)
            raise BlobNotFound(uri) from None
        tmp.replace(dest)
        return dest

    def properties(self, uri: str) -> BlobProperties:
        """The etag, size, version id ("" without versioning) and last write time of the blob at ``uri``."""
        try:
            props = self._blob(uri).get_blob_properties()
        except ResourceNotFoundError:
            raise BlobNotFound(uri) from None
        modified = props.last_modified.isoformat() if props.last_modified else ""
        return BlobProperties(etag=str(props.etag), size=int(props.size), version_id=str(props.get("version_id") or ""),
                              last_modified=modified)

    def ensure_container(self, container: str) -> None:
        with contextlib.suppress(ResourceExistsError):
            self.service.create_container(container)

    def upload(self, container: str, name: str, source: Path, content_type: str | None = None) -> str:
        """Upload ``source`` as ``container/name`` (overwriting); returns the blob URL."""
        self.ensure_container(container)
        blob = self.service.get_blob_client(container, name)
        with source.open("rb") as data:
            blob.upload_blob(data, overwrite=True,
                             content_settings=ContentSettings(content_type=content_type or _content_type(name)))
        return blob.url

    def latest(self, container: str, prefix: str) -> str | None:
        """The URL of the most recently modified blob whose name starts with ``prefix`` (None: there is none)."""
        client = self.service.get_container_client(container)
        if not client.exists():
            return None
        newest = max(client.list_blobs(name_starts_with=prefix), key=lambda b: b.last_modified, default=None)
        return None if newest is None else client.get_blob_client(newest.name).url

    def list(self, container: str) -> Iterator[BlobItem]:
        """Every blob in ``container`` with its current ETag."""
        client = self.service.get_container_client(container)
        for item in client.list_blobs():
            url = client.get_blob_client(item.name).url
            yield BlobItem(item.name, url, item.etag, item.size)


# pyright checks each adapter against its port here (a missing or mistyped method fails `make test`)
_BlobStorage: type[ports.BlobStore] = BlobStorage
