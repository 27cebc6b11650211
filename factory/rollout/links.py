# pyright: strict
"""Signed rollout control links: ``{base}/api/rollouts/{run_id}/{pause|resume|abort}?exp=<unix>&sig=<hex>``.

HMAC-SHA256 with the approval signing keys (``APPROVAL_SIGNING_KEY``, and ``..._PREVIOUS`` during rotation),
over a message that starts with ``rollout`` so an approval link's signature never verifies as a control link's
(nor the other way round); compared in constant time; an expired link is refused (410), a tampered or
malformed one too (403).
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.parse

from contract import CONTROL_ACTIONS
from factory.approval import LinkError


def _signature(key: str, run_id: str, action: str, expires_at: int) -> str:
    message = "\n".join(("rollout", run_id, action, str(expires_at))).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def control_links(base_url: str, key: str, run_id: str, expires_at: int) -> dict[str, str]:
    """``{"pause": url, "resume": url, "abort": url}`` for one run's rollout."""
    run = urllib.parse.quote(run_id, safe="")
    return {action: f"{base_url.rstrip('/')}/api/rollouts/{run}/{action}?" + urllib.parse.urlencode(
        {"exp": expires_at, "sig": _signature(key, run_id, action, expires_at)}) for action in CONTROL_ACTIONS}


def verify_control(run_id: str, action: str, params: dict[str, str], keys: list[str],
                   now: float | None = None) -> str:
    """The action a control link may take; ``LinkError(403)`` if it is malformed or tampered, ``(410)`` if
    it expired."""
    if action not in CONTROL_ACTIONS:
        raise LinkError(403, f"unknown rollout action {action!r}")
    try:
        expires_at, given = int(params["exp"]), str(params["sig"])
    except (KeyError, ValueError, TypeError):
        raise LinkError(403, "this rollout link is incomplete or malformed") from None
    valid = False
    for key in keys:
        if key and hmac.compare_digest(_signature(key, run_id, action, expires_at).encode(), given.encode()):
            valid = True
    if not valid:
        raise LinkError(403, "this rollout link's signature is not valid (altered, or for another run)")
    if (time.time() if now is None else now) >= expires_at:
        raise LinkError(410, "this rollout link has expired")
    return action
