"""Local approval notifications: a JSON file (0600, in a 0700 folder) under the state dir, for people, and a log
line without the full signatures (the CLI takes the links from the admin-key approval-links route)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from factory import ports
from factory.private import private_dir, redact_link, write_private
from factory.settings import Settings

log = logging.getLogger(__name__)


class LogNotifier:
    """``Notifier`` port: writes ``<state>/approvals/<run_id>.json`` (the webhook body the Azure notifier would
    send) once per run and logs the links."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def from_settings(cls, settings: Settings) -> LogNotifier:
        return cls(settings.state_dir / "approvals")

    def approval_requested(self, run_id: str, model: str, version: str, links: dict[str, str],
                           message: dict[str, Any] | None = None) -> None:
        path = private_dir(self.folder) / f"{run_id}.json"
        if path.exists():  # activities are at-least-once: one request per run
            return
        write_private(path, json.dumps({**(message or {}), "run_id": run_id, "model": model, "version": version,
                                        "links": links}))
        log.warning("approval needed for %s version %s (run %s): approve %s | reject %s (full links in %s)",
                    model, version, run_id, redact_link(links["approve"]), redact_link(links["reject"]), path)


# pyright checks each adapter against its port here (a missing or mistyped method fails `make test`)
_LogNotifier: type[ports.Notifier] = LogNotifier
