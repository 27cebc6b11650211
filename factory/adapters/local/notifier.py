"""Local approval notifications: a log line and a JSON file under the state dir, for people (the CLI takes the
links from the run status API)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from factory.settings import Settings

log = logging.getLogger(__name__)


class LogNotifier:
    """``Notifier`` port: writes ``<state>/approvals/<run_id>.json`` once per run and logs the links."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def from_settings(cls, settings: Settings) -> LogNotifier:
        return cls(settings.state_dir / "approvals")

    def approval_requested(self, run_id: str, model: str, version: str, links: dict[str, str]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{run_id}.json"
        if path.exists():  # activities are at-least-once: one request per run
            return
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"run_id": run_id, "model": model, "version": version, "links": links}))
        tmp.replace(path)
        log.warning("approval needed for %s version %s (run %s): approve %s | reject %s",
                    model, version, run_id, links["approve"], links["reject"])
