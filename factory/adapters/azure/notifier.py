"""Approval notifications on Azure: a POST to a webhook (Teams/Logic App/Slack-compatible JSON)."""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

from factory import ports
from factory.private import redact_link
from factory.settings import Settings

log = logging.getLogger(__name__)


class WebhookNotifier:
    """``Notifier`` port: POSTs the approval request to ``APPROVAL_WEBHOOK_URL`` (none: log only): the model
    card's summary as a Teams Adaptive Card plus plain JSON fields (``factory.notice``).

    The webhook receives an ``Idempotency-Key`` header (the run id): at-least-once activities may send
    the same request twice, and the receiver can drop the repeat.
    """

    def __init__(self, url: str) -> None:
        self.url = url

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookNotifier:
        return cls(settings.env("APPROVAL_WEBHOOK_URL", ""))

    def approval_requested(self, run_id: str, model: str, version: str, links: dict[str, str],
                           message: dict[str, Any] | None = None) -> None:
        text = (message or {}).get("text") or f"Model {model} version {version} (run {run_id}) waits for approval."
        if not self.url:
            log.warning("%s approve: %s reject: %s (no APPROVAL_WEBHOOK_URL: nobody was sent the links)", text,
                        redact_link(links["approve"]), redact_link(links["reject"]))
            return
        body = json.dumps(message or {"text": text, "run_id": run_id, "model": model, "version": version,
                                      "links": links})
        req = urllib.request.Request(self.url, data=body.encode(), method="POST", headers={
            "Content-Type": "application/json", "Idempotency-Key": run_id})
        with urllib.request.urlopen(req, timeout=15) as resp:
            if resp.status >= 300:
                raise OSError(f"approval webhook answered {resp.status}")


# pyright checks each adapter against its port here (a missing or mistyped method fails `make test`)
_WebhookNotifier: type[ports.Notifier] = WebhookNotifier
