"""A small OCI distribution client for what the supply chain stores beside an image: manifests by tag or
digest, and blobs, with every read bounded in size and every blob checked against its digest (a registry is
not trusted to answer with what was asked for).

Only the calls the chain needs (pull/push a manifest, pull/push a blob); plain HTTP for the local loopback
registries, HTTPS elsewhere (``scheme``). Images themselves are copied with skopeo, not through here.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, cast

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST_ACCEPT = ", ".join([
    OCI_MANIFEST,
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # the limit Distribution itself applies to a manifest
MAX_ATTACHMENT_BYTES = 1024 * 1024  # a signature or attestation blob; an SBOM of a few hundred packages is ~100 KB


class OciError(RuntimeError):
    """A registry refused a request or answered something that is not what was asked for."""


class TooLarge(OciError):
    """A manifest or blob is larger than the limit set for it (read no further)."""


@dataclass(frozen=True)
class Manifest:
    """A manifest's bytes as stored, its media type and its digest (``sha256:`` of the bytes)."""

    body: bytes
    media_type: str
    digest: str

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise OciError(f"manifest {self.digest} is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise OciError(f"manifest {self.digest} is not a JSON object")
        return cast(dict[str, Any], data)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _read(resp: Any, limit: int, what: str) -> bytes:
    length = resp.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > limit:
        raise TooLarge(f"{what}: {int(length)} bytes, over the limit of {limit}")
    data = resp.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"{what}: over the limit of {limit} bytes")
    return data


@dataclass(frozen=True)
class Registry:
    """One registry at ``host`` (``host:port``)."""

    host: str
    scheme: str = "http"
    timeout: float = 30.0

    def _url(self, repository: str, kind: str, reference: str) -> str:
        return f"{self.scheme}://{self.host}/v2/{repository}/{kind}/{urllib.parse.quote(reference, safe=':')}"

    def _open(self, req: urllib.request.Request) -> Any:
        return urllib.request.urlopen(req, timeout=self.timeout)  # noqa: S310 (scheme is http/https, set above)

    def manifest(self, repository: str, reference: str, max_bytes: int = MAX_MANIFEST_BYTES) -> Manifest | None:
        """The manifest ``repository:reference`` (a tag or a digest), or None when there is none. A digest
        reference must match the bytes returned."""
        req = urllib.request.Request(self._url(repository, "manifests", reference), headers={"Accept": MANIFEST_ACCEPT})
        try:
            with self._open(req) as resp:
                body = _read(resp, max_bytes, f"{self.host}/{repository}:{reference}")
                media_type = (resp.headers.get("Content-Type") or "").split(";")[0].strip()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise OciError(f"GET {req.full_url} answered {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise OciError(f"GET {req.full_url}: {exc}") from None
        digest = sha256_digest(body)
        if reference.startswith("sha256:") and reference != digest:
            raise OciError(f"{self.host}/{repository}@{reference}: the registry answered other bytes ({digest})")
        return Manifest(body, media_type, digest)

    def blob(self, repository: str, digest: str, max_bytes: int = MAX_ATTACHMENT_BYTES) -> bytes:
        """The blob ``digest``; refused when larger than ``max_bytes`` or not matching its digest."""
        req = urllib.request.Request(self._url(repository, "blobs", digest))
        try:
            with self._open(req) as resp:
                data = _read(resp, max_bytes, f"blob {digest} of {self.host}/{repository}")
        except urllib.error.HTTPError as exc:
            raise OciError(f"GET {req.full_url} answered {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise OciError(f"GET {req.full_url}: {exc}") from None
        if sha256_digest(data) != digest:
            raise OciError(f"blob {digest} of {self.host}/{repository}: its bytes have another digest")
        return data

    def put_blob(self, repository: str, data: bytes) -> str:
        """Upload ``data`` (monolithic, unless the registry has it already); returns its digest."""
        digest = sha256_digest(data)
        head = urllib.request.Request(self._url(repository, "blobs", digest), method="HEAD")
        try:
            with self._open(head):
                return digest
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise OciError(f"HEAD {head.full_url} answered {exc.code}") from None
        start = urllib.request.Request(f"{self.scheme}://{self.host}/v2/{repository}/blobs/uploads/", method="POST",
                                       data=b"")
        try:
            with self._open(start) as resp:
                location = resp.headers["Location"]
            upload = urllib.parse.urljoin(start.full_url, location)
            upload += ("&" if "?" in upload else "?") + urllib.parse.urlencode({"digest": digest})
            put = urllib.request.Request(upload, method="PUT", data=data,
                                         headers={"Content-Type": "application/octet-stream"})
            with self._open(put):
                return digest
        except urllib.error.HTTPError as exc:
            raise OciError(f"uploading blob {digest} to {self.host}/{repository} answered {exc.code}") from None
        except (urllib.error.URLError, OSError, KeyError) as exc:
            raise OciError(f"uploading blob {digest} to {self.host}/{repository}: {exc}") from None

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str = OCI_MANIFEST) -> str:
        """Store a manifest under ``reference`` (a tag); returns its digest."""
        req = urllib.request.Request(self._url(repository, "manifests", reference), method="PUT", data=body,
                                     headers={"Content-Type": media_type})
        try:
            with self._open(req):
                return sha256_digest(body)
        except urllib.error.HTTPError as exc:
            detail = exc.read(2000).decode(errors="replace")
            raise OciError(f"PUT {req.full_url} answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise OciError(f"PUT {req.full_url}: {exc}") from None
