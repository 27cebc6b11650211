"""Local stand-in for Blob Storage → Event Grid: watch Azurite's incoming container and publish
``Microsoft.Storage.BlobCreated`` for every new blob version (name + ETag), as Azure does on upload.

Run as ``python -m localstack.blob_events``; what was published is remembered in a JSON file
under the state dir, so a restart neither misses nor repeats events (a crash between publishing and
remembering repeats one: the run's instance id makes that harmless).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from factory import events
from factory.adapters.azure.blob import BlobStorage
from factory.runs import INCOMING_CONTAINER
from factory.settings import Settings

log = logging.getLogger("blob_events")


class BlobCreatedWatcher:
    """Polls one container and publishes BlobCreated for blob versions it has not published yet."""

    def __init__(self, store: BlobStorage, container: str, seen_file: Path, endpoint: str,
                 account: str = "devstoreaccount1") -> None:
        self.store, self.container, self.seen_file, self.endpoint = store, container, seen_file, endpoint
        self.account = account
        self.seen: set[str] = set(json.loads(seen_file.read_text())) if seen_file.exists() else set()

    def _remember(self, key: str) -> None:
        self.seen.add(key)
        tmp = self.seen_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(self.seen)))
        tmp.replace(self.seen_file)

    def poll_once(self) -> int:
        """Publish events for new blob versions; returns how many were published."""
        self.store.ensure_container(self.container)
        published = 0
        for blob in self.store.list(self.container):
            key = f"{blob.name}\n{blob.etag}"
            if key in self.seen:
                continue
            event = events.blob_created(self.account, self.container, blob.name, blob.url, blob.etag, blob.size)
            events.publish([event], self.endpoint)
            self._remember(key)
            published += 1
            log.info("published BlobCreated for %s/%s (%s)", self.container, blob.name, blob.etag)
        return published


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--container", default=INCOMING_CONTAINER)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings.from_env()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    watcher = BlobCreatedWatcher(BlobStorage.from_settings(settings), args.container,
                                 settings.state_dir / "blob-events-seen.json", settings.eventgrid_endpoint)
    while True:
        try:
            watcher.poll_once()
        except Exception as exc:  # Azurite or devhost restarting: try again next round
            log.warning("poll failed, retrying: %s", exc)
        time.sleep(args.interval)


if __name__ == "__main__":
    raise SystemExit(main())
