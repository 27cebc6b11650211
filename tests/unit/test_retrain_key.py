"""Retraining a commit starts one run per model, whichever way it is asked for: ``model-factory run --changed``
(a developer) and ``model-factory retrain --commit`` (CI) send the same idempotency key."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cli.client import FactoryClient
from cli.commands.stack import _retrain
from cli.main import main
from factory.changes import head_commit
from factory.runs import run_id_for_key

ROOT = Path(__file__).resolve().parents[2]


def test_one_commit_retrained_both_ways_starts_one_run(monkeypatch):
    """A stand-in for ``POST /api/runs`` that derives the instance id from the key as the app does
    (``function_app.http.start_run``): the runs it starts are the distinct ids."""
    started: set[str] = set()

    class Runs(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            run_id = run_id_for_key(body["model"], self.headers["Idempotency-Key"])
            started.add(run_id)
            answer = json.dumps({"id": run_id}).encode()
            self.send_response(202)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Runs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("FACTORY_FUNCTION_KEY", "k3y")
    commit = head_commit(ROOT)
    try:
        developer = _retrain(None, FactoryClient(url, "k3y"), "wine_cultivar", None)  # type: ignore[arg-type]
        assert main(["retrain", "wine_cultivar", "--url", url, "--commit", commit.upper()]) == 0
    finally:
        server.shutdown()
        server.server_close()
    assert started == {developer}
