"""Where a run's data may come from: a blob in the watched ``incoming`` container of the configured storage
account, under the model's prefix (``incoming/<model>/...``). Nothing else: no local path, no other host,
account or container, so no request of the factory ever carries its storage credential anywhere else.
"""

from __future__ import annotations

import posixpath
import urllib.parse
from dataclasses import dataclass

from factory.runs import INCOMING_CONTAINER


class DataSourceError(ValueError):
    """Data named somewhere the factory does not read from; the message says where data must be."""


@dataclass(frozen=True)
class BlobRef:
    """One blob of the configured account."""

    container: str
    name: str


def _where(model: str, account_url: str) -> str:
    return (f"data must be a blob in container '{INCOMING_CONTAINER}' of the storage account {account_url} under "
            f"'{model}/' (e.g. '{model}/2026-11.csv'); upload a local file first (model-factory run --data FILE)")


def _clean_name(name: str) -> str | None:
    """A blob name that names one blob plainly (no dot segments, empty segments, backslashes or controls)."""
    if not name or "\\" in name or any(ord(c) < 32 for c in name) or len(name) > 1024:
        return None
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts) or posixpath.normpath(name) != name:
        return None
    return name


def split_account_url(url: str) -> tuple[str, str, str]:
    """``(scheme, host:port lowercased, path without trailing slash)`` of a storage account URL."""
    parsed = urllib.parse.urlsplit(url)
    return parsed.scheme.lower(), parsed.netloc.lower(), parsed.path.rstrip("/")


def blob_of_url(url: str, account_url: str) -> BlobRef | None:
    """The blob ``url`` names in the configured account, or None when it is anywhere else."""
    try:
        parsed = urllib.parse.urlsplit(url)
    except ValueError:
        return None
    scheme, netloc, base = split_account_url(account_url)
    if (parsed.scheme.lower(), parsed.netloc.lower()) != (scheme, netloc) or parsed.query or parsed.fragment:
        return None
    if parsed.username or parsed.password:
        return None
    path = urllib.parse.unquote(parsed.path)
    if not path.startswith(base + "/"):
        return None
    container, _, name = path[len(base) + 1:].partition("/")
    name = _clean_name(name) or ""
    return BlobRef(container, name) if container and name else None


def resolve(data: object, model: str, account_url: str) -> BlobRef:
    """The blob a run's ``data`` names: ``<model>/<file>``, ``incoming/<model>/<file>`` or the blob's URL in
    the configured account. Raises ``DataSourceError`` (saying where data must be) for anything else."""
    if not isinstance(data, str) or not data.strip():
        raise DataSourceError(_where(model, account_url))
    data = data.strip()
    if "://" in data:
        ref = blob_of_url(data, account_url)
    else:
        name = data.removeprefix(f"{INCOMING_CONTAINER}/")
        ref = BlobRef(INCOMING_CONTAINER, name) if _clean_name(name) else None
    if ref is None or ref.container != INCOMING_CONTAINER or not ref.name.startswith(f"{model}/"):
        raise DataSourceError(_where(model, account_url))
    return ref
