"""Train exactly what was validated: fetch the run's blob at the version that started the run, hash it,
and after validation pin those bytes as a run-scoped blob that training reads (and checks) instead.

The source blob is read by ETag (``If-Match``), so an overwrite after the upload that started the run is
refused rather than validated; the copy in ``validated/<run_id>/`` is uploaded from the very bytes that were
validated, and the lineage records their sha256, which the training step checks before it trains.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory.datasource import DataSourceError, resolve
from factory.ports import BlobChanged, BlobNotFound, BlobStore

VALIDATED_CONTAINER = "validated"


class DataRefused(ValueError):
    """The run's data cannot be validated; the message says why (and where data must be)."""


@dataclass(frozen=True)
class FetchedData:
    """The run's data as validated: a local file, its blob, version and hash."""

    local: Path
    display_name: str
    uri: str
    etag: str
    version_id: str
    size: int
    sha256: str
    uploaded_at: str = ""  # the blob's Last-Modified (ISO 8601), for the model card


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(store: BlobStore, model: str, data_uri: str, etag: str, max_bytes: int, scratch: Path) -> FetchedData:
    """Download the run's blob (only from the watched place, only at ``etag`` when given) into ``scratch``."""
    try:
        ref = resolve(data_uri, model, store.account_url)
    except DataSourceError as err:
        raise DataRefused(f"{model} data {data_uri[:200]!r}: {err}") from None
    uri, name = store.url_of(ref.container, ref.name), f"{ref.container}/{ref.name}"
    try:
        props = store.properties(uri)
    except BlobNotFound:
        raise DataRefused(f"{model} upload {name}: no such blob") from None
    etag = etag or props.etag
    if props.size > max_bytes:
        raise DataRefused(f"{model} upload {name}: {props.size} bytes is over the limit of {max_bytes} bytes")
    local = scratch / Path(ref.name).name
    try:
        store.download(uri, local, etag=etag)
    except BlobChanged:
        raise DataRefused(f"{model} upload {name} was overwritten after the upload that started this run (ETag "
                          f"{etag}); it was not validated, and the new upload starts a run of its own") from None
    if local.stat().st_size > max_bytes:  # the size read before the download is no promise
        raise DataRefused(f"{model} upload {name}: over the limit of {max_bytes} bytes")
    return FetchedData(local, name, uri, etag, props.version_id, local.stat().st_size, sha256_of(local),
                       props.last_modified)


def pin(store: BlobStore, run_id: str, data: FetchedData) -> str:
    """Upload the validated bytes as ``validated/<run_id>/<file>`` (idempotent); the URL training reads."""
    return store.upload(VALIDATED_CONTAINER, f"{run_id}/{data.local.name}", data.local,
                        content_type="application/octet-stream")


def check_pinned(path: Path, expected_sha256: str) -> None:
    """The training step's check: the bytes it is about to train on are the validated ones."""
    actual = sha256_of(path)
    if expected_sha256 and actual != expected_sha256:
        raise DataRefused(f"data {path.name}: sha256 {actual} is not the validated {expected_sha256}; "
                          "not training on data that was not validated")


def discard(scratch: Path) -> None:
    """Remove a run's local data copy (the pinned blob is the record of what was validated)."""
    shutil.rmtree(scratch, ignore_errors=True)


def summary(data: FetchedData, pinned_uri: str) -> dict[str, Any]:
    return {"etag": data.etag, "size": data.size, "sha256": data.sha256, "version_id": data.version_id,
            "pinned_uri": pinned_uri, "source_uri": data.uri}
