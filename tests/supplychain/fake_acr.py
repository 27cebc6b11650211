"""An in-memory ACR data plane behind the real ``requests`` stack: a ``requests`` adapter that answers what
``azure-containerregistry``'s ``ContainerRegistryClient`` sends (the ACR token challenge and exchange, the OCI
distribution manifest and blob calls) and records every request, so the Azure adapter is driven through the real
SDK, azure-core pipeline and ``RequestsTransport`` with only the socket replaced.

It behaves as ACR does where the adapter depends on it: every ``/v2/`` call without the ACR access token is
answered 401 with a Bearer challenge; ``/oauth2/exchange`` accepts only the identity's AAD token and
``/oauth2/token`` only the refresh token it issued; blob uploads are checked against their digest; a repository
in ``read_only`` answers 403 to pushes (an identity without AcrPush).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPResponse

AAD_TOKEN = "aad-token-of-the-managed-identity"
REFRESH_TOKEN = "acr-refresh-token"
ACCESS_TOKEN = "acr-access-token"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Recorded:
    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0


class FakeAcr(HTTPAdapter):
    """One registry per login server in ``hosts``: manifests by (host, repository, reference), blobs by
    (host, repository, digest)."""

    def __init__(self, *hosts: str) -> None:
        super().__init__()
        self.hosts = hosts
        self.manifests: dict[tuple[str, str, str], tuple[bytes, str]] = {}
        self.blobs: dict[tuple[str, str, str], bytes] = {}
        self.uploads: dict[str, bytearray] = {}
        self.requests: list[Recorded] = []
        self.read_only: set[str] = set()  # repositories whose pushes are denied (no AcrPush)
        self.corrupt: set[str] = set()  # blob digests answered with other bytes

    def session(self) -> requests.Session:
        session = requests.Session()
        session.mount("https://", self)
        session.mount("http://", self)
        return session

    def put_manifest(self, host: str, repository: str, tag: str, body: bytes, media_type: str) -> str:
        digest = digest_of(body)
        self.manifests[(host, repository, tag)] = (body, media_type)
        self.manifests[(host, repository, digest)] = (body, media_type)
        return digest

    # requests' adapter interface
    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = urllib.parse.urlsplit(str(request.url))
        body = request.body
        if hasattr(body, "read"):
            body = body.read()  # type: ignore[union-attr]
        data = body.encode() if isinstance(body, str) else bytes(body or b"")
        path = urllib.parse.unquote(url.path)  # the SDK sends models%2Ftiny, sha256%3A...
        record = Recorded(str(request.method), url.netloc, path, urllib.parse.parse_qs(url.query),
                          dict(request.headers), data)
        self.requests.append(record)
        status, headers, payload = self._answer(record)
        record.status = status
        raw = HTTPResponse(body=io.BytesIO(payload), headers={"Content-Length": str(len(payload)), **headers},
                           status=status, preload_content=False, decode_content=False)
        return self.build_response(request, raw)

    def _answer(self, r: Recorded) -> tuple[int, dict[str, str], bytes]:
        if r.host not in self.hosts:
            return 404, {}, b"unknown host"
        if r.path == "/oauth2/exchange":
            form = urllib.parse.parse_qs(r.body.decode())
            if form.get("access_token") != [AAD_TOKEN] or form.get("service") != [r.host]:
                return 401, {}, b'{"errors":[{"code":"UNAUTHORIZED"}]}'
            return 200, {"Content-Type": "application/json"}, json.dumps({"refresh_token": REFRESH_TOKEN}).encode()
        if r.path == "/oauth2/token":
            form = urllib.parse.parse_qs(r.body.decode())
            if form.get("refresh_token") != [REFRESH_TOKEN] or form.get("grant_type") != ["refresh_token"]:
                return 401, {}, b'{"errors":[{"code":"UNAUTHORIZED"}]}'
            return 200, {"Content-Type": "application/json"}, json.dumps({"access_token": ACCESS_TOKEN}).encode()
        match = re.fullmatch(r"/v2/(.+?)/(manifests|blobs)/(.+)", r.path)
        if not match:
            return 404, {}, b""
        repository, kind, rest = match.groups()
        if r.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            challenge = (f'Bearer realm="https://{r.host}/oauth2/token",service="{r.host}",'
                         f'scope="repository:{repository}:pull,push"')
            return 401, {"WWW-Authenticate": challenge}, b'{"errors":[{"code":"UNAUTHORIZED"}]}'
        if r.method in ("PUT", "POST", "PATCH") and repository in self.read_only:
            return 403, {"Content-Type": "application/json"}, b'{"errors":[{"code":"DENIED","message":"no push"}]}'
        if kind == "manifests":
            return self._manifest(r, repository, rest)
        return self._blob(r, repository, rest)

    def _manifest(self, r: Recorded, repository: str, reference: str) -> tuple[int, dict[str, str], bytes]:
        key = (r.host, repository, reference)
        if r.method == "PUT":
            digest = self.put_manifest(r.host, repository, key[2], r.body, r.headers.get("Content-Type", ""))
            return 201, {"Docker-Content-Digest": digest, "Location": f"/v2/{repository}/manifests/{digest}"}, b""
        if key not in self.manifests:
            return 404, {"Content-Type": "application/json"}, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'
        body, media_type = self.manifests[key]
        return 200, {"Content-Type": media_type, "Docker-Content-Digest": digest_of(body)}, body

    def _blob(self, r: Recorded, repository: str, rest: str) -> tuple[int, dict[str, str], bytes]:
        if rest == "uploads/" and r.method == "POST":
            upload = str(uuid.uuid4())
            self.uploads[upload] = bytearray()
            return 202, {"Location": f"/v2/{repository}/blobs/uploads/{upload}"}, b""
        if rest.startswith("uploads/"):
            upload = rest.removeprefix("uploads/")
            if upload not in self.uploads:
                return 404, {}, b""
            location = f"/v2/{repository}/blobs/uploads/{upload}"
            if r.method == "PATCH":
                self.uploads[upload] += r.body
                return 202, {"Location": location, "Range": f"0-{len(self.uploads[upload]) - 1}"}, b""
            if r.method == "PUT":
                data = bytes(self.uploads.pop(upload)) + r.body
                digest = r.query.get("digest", [""])[0]
                if digest != digest_of(data):
                    return 400, {}, b'{"errors":[{"code":"DIGEST_INVALID"}]}'
                self.blobs[(r.host, repository, digest)] = data
                return 201, {"Docker-Content-Digest": digest, "Location": f"/v2/{repository}/blobs/{digest}"}, b""
        key = (r.host, repository, rest)
        if key not in self.blobs:
            return 404, {}, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}'
        data = self.blobs[key]
        if rest in self.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 1])
        wanted = re.fullmatch(r"bytes=(\d+)-(\d+)", r.headers.get("Range", ""))
        first, last = (int(wanted[1]), int(wanted[2])) if wanted else (0, len(data) - 1)
        part = data[first:last + 1]
        return 206, {"Content-Range": f"bytes {first}-{first + len(part) - 1}/{len(data)}",
                     "Content-Type": "application/octet-stream"}, part
