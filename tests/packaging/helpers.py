"""Shared test helpers: train models with their own ``src`` programs, build their images, a loopback event
receiver, tiny images."""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from factory.kit import run_stage

REPO = Path(__file__).resolve().parents[2]
MODELS = tuple(sorted(p.parent.name for p in (REPO / "models").glob("*/model.yaml")  # the tabular models, found
                      if "kind: images" not in p.read_text()))




# the roles of an image's last four layers, in order (factory.packaging.layers)
LAYER_ROLES = ["dependencies", "serving code", "model code + config", "model artifact"]


def build_pushed(folder: Path, artifacts: Path, dest: Path, registry: str, tag: str, version: str = "1",
                 arches: tuple[str, ...] = ("amd64", "arm64"), layer_cache: bool = True, run_id: str = "") -> str:
    """Assemble ``folder`` with ``artifacts`` in ``dest``, build, verify and push it as
    ``registry/models/<name>:tag`` (labels: ``version``, ``run_id`` or ``run-<tag>``); the pushed digest."""
    from factory import ports
    from factory.adapters.local.podman import PodmanImageBuilder
    from factory.packaging.context import assemble, model_labels, scoring_check

    context = assemble(folder, artifacts, dest, model_labels(folder.name, version, run_id or f"run-{tag}", "c0de"))
    ref = ports.ImageRef(registry=registry, repository=f"models/{folder.name.replace('_', '-')}", tag=tag)
    builder = PodmanImageBuilder(arches=arches, layer_cache=layer_cache)
    return builder.build_verify_push(context, ref, scoring_check(folder)).digest


def train_with_src(model: str, work: Path) -> Path:
    """Run the model's own prep → transform → train programs on its sample data; returns the artifact folder."""
    folder = REPO / "models" / model
    data = folder / "data"
    csvs = sorted(data.glob("*.csv"))
    source = data if len(csvs) > 1 else csvs[0]
    steps = [
        ["prep.py", "--data", str(source), "--prepared", str(work / "prepared")],
        ["transform.py", "--prepared", str(work / "prepared"), "--features", str(work / "features")],
        ["train.py", "--features", str(work / "features"), "--model_name", model, "--model", str(work / "model")],
    ]
    for program, *args in steps:
        done = run_stage(folder, program.removesuffix(".py"), *args)
        assert done.returncode == 0, done.stderr
    return work / "model"


class EventReceiver:
    """A loopback HTTP endpoint standing in for the Event Grid topic: records every event POSTed to it."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.arrived:
                    receiver.events.extend(body)
                    receiver.arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/events"

    def wait_for(self, predicate, timeout: float = 15.0) -> list[dict[str, Any]]:
        with self.arrived:
            self.arrived.wait_for(lambda: any(predicate(e) for e in self.events), timeout=timeout)
            return [e for e in self.events if predicate(e)]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def push_tiny_image(registry: str, repository: str, tag: str | None, payload: bytes = b"hello") -> str:
    """Push a one-layer OCI image over the registry API; returns its manifest digest. ``tag`` None: by digest."""

    def blob(data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        req = urllib.request.Request(f"http://{registry}/v2/{repository}/blobs/uploads/", method="POST", data=b"")
        with urllib.request.urlopen(req) as resp:
            location = resp.headers["Location"]
        if location.startswith("/"):
            location = f"http://{registry}{location}"
        sep = "&" if "?" in location else "?"
        put = urllib.request.Request(f"{location}{sep}digest={digest}", method="PUT", data=data,
                                     headers={"Content-Type": "application/octet-stream"})
        urllib.request.urlopen(put).close()
        return digest

    layer = payload
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                         "config": {"Labels": {"test": "tiny"}}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": blob(layer),
                    "size": len(layer)}],
    }).encode()
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    req = urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/{tag or digest}", method="PUT",
                                 data=manifest, headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    urllib.request.urlopen(req).close()
    return digest
