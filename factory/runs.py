"""A factory run's identity: its instance id (from a blob version or an idempotency key) and which uploads
start one. Its records (request, stages, lineage) are in ``contract.runs``."""

from __future__ import annotations

import hashlib
import re

INCOMING_CONTAINER = "incoming"
_SUBJECT = re.compile(r"^/blobServices/default/containers/(?P<container>[^/]+)/blobs/(?P<blob>.+)$")


def _digest(*parts: str, length: int = 20) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:length]


def run_id_for_blob(model: str, url: str, etag: str) -> str:
    """A blob-triggered run's instance id: the same blob version always gives the same run."""
    return f"{model}-{_digest(url, etag.strip(chr(34)))}"


def run_id_for_key(model: str, idempotency_key: str) -> str:
    """A manual run's instance id from the caller's idempotency key."""
    return f"{model}-m{_digest(model, idempotency_key, length=19)}"


# A run id as the factory makes them (``<model>-<hex>``, ``<model>-m<hex>``): letters, digits, ``_ . -``. A route's
# run id is checked against it before it goes into a Durable client URL, where ``#``, ``?`` or ``/`` would change
# which resource is asked for.
RUN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")


def is_run_id(text: str) -> bool:
    """Whether ``text`` can be a run id (the factory's alphabet and length)."""
    return RUN_ID.fullmatch(text) is not None


def blob_in_subject(subject: str) -> tuple[str, str] | None:
    """``(container, blob name)`` of a Blob Storage event subject, or None when it is not one."""
    match = _SUBJECT.match(subject)
    return (match["container"], match["blob"]) if match else None


# What an upload's name ends with: a CSV (``data.kind: table``) or an archive (``data.kind: images``). The same
# list filters BlobCreated in infra/eventgrid-subscriptions.json.
UPLOAD_SUFFIXES = (".csv", ".zip", ".tar.gz")


def is_upload(blob_name: str) -> bool:
    """Whether an incoming blob's name is an upload's (case-insensitive, as Event Grid's filter)."""
    return blob_name.lower().endswith(UPLOAD_SUFFIXES)


def model_of_blob(blob_name: str) -> str | None:
    """The model an incoming blob is for: its first path segment (``<model>/<file>.csv``)."""
    head, sep, rest = blob_name.partition("/")
    return head if sep and head and rest else None
