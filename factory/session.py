# pyright: strict
"""The dashboard's browser session: a short-lived signed token kept in a cookie, so the dashboard's links
carry no key. The key opens the dashboard once (``/api/dashboard/open``, checked by the Functions host);
from then on the browser holds ``<expiry>.<nonce>.<HMAC-SHA256>`` in an HttpOnly, SameSite=Strict cookie.

The session key is derived from the approval signing key (HMAC with a fixed label): no new secret to hold,
rotated with it, and a session token is never a valid approval signature (another message shape).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

COOKIE = "factory_session"
LIFETIME_S = 30 * 60  # how long a session lasts after the key opened it
PATH = "/api/dashboard"
_LABEL = b"model-factory dashboard session v1"


def _session_key(signing_key: str) -> bytes:
    return hmac.new(signing_key.encode(), _LABEL, hashlib.sha256).digest()


def _mac(signing_key: str, expires_at: int, nonce: str) -> str:
    return hmac.new(_session_key(signing_key), f"{expires_at}.{nonce}".encode(), hashlib.sha256).hexdigest()


def new_token(signing_key: str, now: float | None = None, lifetime_s: int = LIFETIME_S) -> str:
    """A token valid for ``lifetime_s`` seconds from ``now``."""
    expires_at = int(time.time() if now is None else now) + lifetime_s
    nonce = secrets.token_hex(8)
    return f"{expires_at}.{nonce}.{_mac(signing_key, expires_at, nonce)}"


def valid(token: str | None, keys: list[str], now: float | None = None) -> bool:
    """Whether ``token`` was signed by one of ``keys`` (constant-time compare) and has not expired."""
    if not token or len(token) > 200:
        return False
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit():
        return False
    expires_at, nonce, given = int(parts[0]), parts[1], parts[2]
    signed = False
    for key in keys:
        if key and hmac.compare_digest(_mac(key, expires_at, nonce).encode(), given.encode()):
            signed = True
    return signed and (time.time() if now is None else now) < expires_at


def seconds_left(token: str, now: float | None = None) -> int:
    """Whole seconds until ``token`` expires (0 when it has or is malformed)."""
    head = token.split(".", 1)[0]
    return max(0, int(head) - int(time.time() if now is None else now)) if head.isdigit() else 0


def cookie_header(token: str, secure: bool, lifetime_s: int = LIFETIME_S) -> str:
    """The ``Set-Cookie`` value: HttpOnly (no script reads it), SameSite=Strict (no other site sends it),
    scoped to the dashboard's path, expiring with the token; Secure over HTTPS."""
    return (f"{COOKIE}={token}; Max-Age={lifetime_s}; Path={PATH}; HttpOnly; SameSite=Strict"
            + ("; Secure" if secure else ""))


def cookie_value(header: str | None) -> str | None:
    """This session's token from a request's ``Cookie`` header, if any."""
    for part in (header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return None
