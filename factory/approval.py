"""Signed approval links: HMAC-SHA256 over the run, decision, model version, image digest and expiry.

A link is ``{base}/api/approvals/{run_id}/{decision}?v=<version>&d=<digest>&exp=<unix>&sig=<hex>``. The key
comes from settings (``APPROVAL_SIGNING_KEY``; on Azure an app setting holding a Key Vault reference,
resolved by the platform). During rotation ``APPROVAL_SIGNING_KEY_PREVIOUS`` is still accepted.
Signatures are compared in constant time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from contract import LINK_DECISIONS
from factory.settings import Settings

DECISIONS = tuple(d.value for d in LINK_DECISIONS)
MIN_KEY_LENGTH = 32


class LinkError(Exception):
    """A link that must not decide anything. ``status`` is the HTTP status to answer (403 or 410)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ApprovalClaim:
    """What a verified link says."""

    run_id: str
    decision: str
    version: str
    digest: str
    expires_at: int


def _message(claim: ApprovalClaim) -> bytes:
    fields = (claim.run_id, claim.decision, claim.version, claim.digest, str(claim.expires_at))
    return "\n".join(fields).encode()


def _signature(key: str, claim: ApprovalClaim) -> str:
    return hmac.new(key.encode(), _message(claim), hashlib.sha256).hexdigest()


def check_key(key: str, name: str = "APPROVAL_SIGNING_KEY") -> str:
    """Refuse keys that cannot protect anything: missing, unresolved Key Vault references, too short."""
    if not key:
        raise ValueError(f"{name} is not set: approval links cannot be signed")
    if key.startswith("@Microsoft.KeyVault("):
        raise ValueError(f"{name} is an unresolved Key Vault reference; the Functions platform resolves it on "
                         "Azure, locally put the secret itself in local.settings.json")
    if len(key) < MIN_KEY_LENGTH:
        raise ValueError(f"{name} must be at least {MIN_KEY_LENGTH} characters long")
    return key


def signing_keys(settings: Settings) -> list[str]:
    """The accepted approval signing keys: the current one, then the previous one during rotation."""
    keys = [check_key(settings.approval_signing_key)]
    if settings.approval_signing_key_previous:
        keys.append(check_key(settings.approval_signing_key_previous, "APPROVAL_SIGNING_KEY_PREVIOUS"))
    return keys


def links_base_url(settings: Settings) -> str:
    """The app's public address, as the approval links name it."""
    return settings.approval_base_url or f"http://{settings.website_hostname}"


def sign_link(base_url: str, key: str, claim: ApprovalClaim) -> str:
    """The signed URL for ``claim`` under ``base_url`` (the Functions app's public address)."""
    if claim.decision not in DECISIONS:
        raise ValueError(f"decision must be one of {DECISIONS}, got {claim.decision!r}")
    query = urllib.parse.urlencode({"v": claim.version, "d": claim.digest, "exp": claim.expires_at,
                                    "sig": _signature(key, claim)})
    run = urllib.parse.quote(claim.run_id, safe="")
    return f"{base_url.rstrip('/')}/api/approvals/{run}/{claim.decision}?{query}"


def approval_links(base_url: str, key: str, run_id: str, version: str, digest: str, expires_at: int
                   ) -> dict[str, str]:
    """Both links of one approval request: ``{"approve": url, "reject": url}``."""
    return {d: sign_link(base_url, key, ApprovalClaim(run_id, d, version, digest, expires_at)) for d in DECISIONS}


def sig_digest(sig: str) -> str:
    """What a record keeps of a used link's signature: its SHA-256, never the signature itself (a record's
    readers, e.g. the Durable history, must not be able to rebuild the link from it)."""
    return hashlib.sha256(sig.encode()).hexdigest()


def _verify(run_id: str, decision: str, params: dict[str, str], keys: list[str], now: float | None,
            field: str, expected: Callable[[str, ApprovalClaim], str]) -> ApprovalClaim:
    if decision not in DECISIONS:
        raise LinkError(403, f"unknown decision {decision!r}")
    try:
        claim = ApprovalClaim(run_id, decision, str(params["v"]), str(params["d"]), int(params["exp"]))
        given = params[field]
    except (KeyError, ValueError, TypeError):
        raise LinkError(403, "this approval link is incomplete or malformed") from None
    if not isinstance(given, str):  # pyright: ignore[reportUnnecessaryIsInstance] (hostile input)
        raise LinkError(403, "this approval link is incomplete or malformed")
    valid = False
    for key in keys:
        if key and hmac.compare_digest(expected(key, claim).encode(), given.encode()):
            valid = True
    if not valid:
        raise LinkError(403, "this approval link's signature is not valid (altered, or for another run)")
    if (time.time() if now is None else now) >= claim.expires_at:
        raise LinkError(410, "this approval link has expired")
    return claim


def verify_link(run_id: str, decision: str, params: dict[str, str], keys: list[str],
                now: float | None = None) -> ApprovalClaim:
    """Check a link's signature (against every accepted key) and expiry; return what it claims.

    Raises ``LinkError(403)`` for a malformed or tampered link, ``LinkError(410)`` for an expired one.
    """
    return _verify(run_id, decision, params, keys, now, "sig", _signature)


def verify_link_digest(run_id: str, decision: str, params: dict[str, str], keys: list[str],
                       now: float | None = None) -> ApprovalClaim:
    """As ``verify_link`` for a link whose signature was kept only as ``sig_sha256`` (``sig_digest``): valid
    when it is the digest of the signature the key gives these fields."""
    return _verify(run_id, decision, params, keys, now, "sig_sha256", lambda k, c: sig_digest(_signature(k, c)))


def link_params(url: str) -> dict[str, str]:
    """The signed fields of a link (``v``, ``d``, ``exp``, ``sig``), as ``verify_link`` takes them."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    return {k: v[0] for k, v in query.items() if k in ("v", "d", "exp", "sig")}
