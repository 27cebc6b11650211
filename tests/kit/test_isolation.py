"""A broken model folder is reported and skipped; the other models load (and, e2e, run)."""

from __future__ import annotations

import json
import logging
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cli.main import main
from factory.catalog import load_catalog, scan_catalog

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    for name in ("wine_cultivar", "vibration_anomaly"):
        shutil.copytree(REPO / "models" / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    (root / "broken").mkdir()
    (root / "broken" / "model.yaml").write_text("name: broken\ntask: [unclosed\n")
    (root / "no_yaml" / "src").mkdir(parents=True)  # a model folder whose model.yaml is missing
    (root / "notes").mkdir()  # not a model folder at all: ignored
    return root


def test_the_catalog_skips_broken_folders_and_keeps_the_others(models, caplog):
    with caplog.at_level(logging.ERROR, logger="factory.catalog"):
        catalog = load_catalog(models)
    assert sorted(catalog) == ["vibration_anomaly", "wine_cultivar"]
    good, broken = scan_catalog(models)
    assert sorted(good) == sorted(catalog) and sorted(broken) == ["broken", "no_yaml"]
    assert broken["broken"].startswith(f"{models / 'broken' / 'model.yaml'}: not valid YAML")
    assert "no such file; every model folder needs a model.yaml" in broken["no_yaml"]
    logged = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("model folder broken skipped:") for m in logged)  # the logs say it too


def test_the_models_command_lists_the_good_ones_and_reports_the_broken(models, capsys):
    assert main(["models", "--models-dir", str(models)]) == 0
    out, err = capsys.readouterr()
    assert "wine_cultivar" in out and "vibration_anomaly" in out
    assert "skipped broken:" in err and "skipped no_yaml:" in err


def test_retrain_posts_one_run_per_model_on_its_latest_upload_with_the_commit(monkeypatch, capsys):
    seen: list[tuple[dict, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((body, {k.lower(): v for k, v in self.headers.items()}))
            found = body["model"] != "no_upload_yet"
            self.send_response(202 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"id": f"{body['model']}-1"} if found else {"error": "no upload"}).encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("FACTORY_FUNCTION_KEY", "k3y")
        code = main(["retrain", "wine_cultivar", "no_upload_yet", "--url", f"http://127.0.0.1:{server.server_port}",
                     "--commit", "0123456789abcdef0123456789abcdef01234567"])
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0
    assert [b["model"] for b, _ in seen] == ["wine_cultivar", "no_upload_yet"]
    body, headers = seen[0]
    assert body == {"model": "wine_cultivar", "data": "latest",
                    "source_commit": "0123456789abcdef0123456789abcdef01234567"}
    assert headers["x-functions-key"] == "k3y" and headers["idempotency-key"].startswith("commit-0123456")
    out = capsys.readouterr().out
    assert "wine_cultivar: run wine_cultivar-1 started" in out and "no_upload_yet: no upload yet" in out
