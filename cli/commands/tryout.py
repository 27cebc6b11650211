"""``model-factory try MODEL [--version V] [--request FILE]``: serve a local version as its image would, and
ask it.

The version's build context is assembled exactly as for the image (``factory.packaging.context.assemble``:
the same scoring script, ``model_server`` package, artifact folder and serving files), and the same server
(``python -m model_server``) runs it on a free loopback port with the image's settings (``AZUREML_MODEL_DIR``,
``SCORING_SCRIPT``), in the model's local environment (the venv of its train component's conda file, whose
pins ``check`` proves agree with the image's dependency set). No stack, no container. It posts the sample
request (or ``--request FILE``) and, for the sample, compares the answer with ``expected-response.json`` as
the image's verification does (``model_server.check``). Exit 1 when it does not match.

``--image``: the version's real image instead, pulled from the dev registry and run with podman
(``cli/tryimage.py``); the same request, the same comparison, the same output.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _python(model_folder: Path) -> str:
    from factory.adapters.local.environments import env_root, python_for
    from factory.kit import training_conda_file

    conda = training_conda_file(model_folder)
    python, _ = python_for({"conda_file": str(conda)}, f"{conda}", env_root())
    return python


def serve_and_ask(model_folder: Path, artifacts: Path, work: Path, request: Any, version: str = "0",
                  timeout: float = 120.0) -> tuple[int, str]:
    """Assemble the image's context from ``artifacts`` in ``work``, serve it and POST ``request`` to /score;
    returns (HTTP status, body). Raises TimeoutError when the server does not get ready."""
    from factory.packaging.context import assemble, model_labels
    from model_server.check import http, wait_ready

    app = work / "app"
    assemble(model_folder, artifacts, app, model_labels(model_folder.name, version))
    port = _free_port()
    env = {**os.environ, "AZUREML_MODEL_DIR": str(app / "model"), "SCORING_SCRIPT": str(app / "score.py"),
           "PYTHONPATH": str(app), "PYTHONDONTWRITEBYTECODE": "1"}
    log = (work / "server.log").open("wb")
    server = subprocess.Popen([_python(model_folder), "-m", "model_server", "--host", "127.0.0.1", "--port",
                               str(port)], cwd=app, env=env, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, timeout, alive=lambda: server.poll() is None)
        except TimeoutError as exc:
            log.flush()
            tail = (work / "server.log").read_text(errors="replace").splitlines()[-15:]
            raise TimeoutError(f"{exc}\n" + "\n".join(tail)) from None
        status, body = http("POST", f"{base}/score", json.dumps(request).encode(), timeout=30.0)
        return status, body.decode(errors="replace")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def register(subparsers: argparse._SubParsersAction) -> None:
    tryout = subparsers.add_parser("try", help="serve a local version as its image does and answer the sample "
                                   "request (no stack, no container; --image: the real image, with podman)")
    tryout.add_argument("model", help="a model of the catalog")
    tryout.add_argument("--version", help="a local version (default: the newest; see `model-factory versions`)")
    tryout.add_argument("--request", type=Path, help="a request JSON file (default: model/sample-request.json, "
                        "compared with model/expected-response.json)")
    tryout.add_argument("--image", action="store_true",
                        help="run the version's real image (built and pushed by a factory run to the dev "
                        "registry) with podman on a free loopback port, instead of serving it in-process")
    tryout.add_argument("--models-dir", type=Path, help="default: FACTORY_MODELS_DIR or ./models")
    tryout.set_defaults(func=cmd_try)


def cmd_try(args: argparse.Namespace) -> int:
    from cli.commands.versions import model_and_registry
    from factory.adapters.local.containers import ContainerEngine, ContainerError, engine
    from factory.packaging.context import ContextError, scoring_check

    opened = model_and_registry(args.model, args.models_dir)
    if opened is None:
        return 2
    spec, reg, settings = opened
    try:
        check = scoring_check(spec.folder)
        request = check.request if args.request is None else json.loads(args.request.read_text())
    except (ContextError, OSError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    eng: ContainerEngine | None = None
    if args.image:
        try:
            eng = engine()
        except ContainerError as exc:
            print(f"error: --image needs a container engine: {exc}", file=sys.stderr)
            return 2
    versions = list(reg.versions(spec.name))
    version = args.version or (versions[-1].version if versions else None)
    chosen = next((v for v in versions if v.version == version), None)
    if chosen is None:
        known = ", ".join(v.version for v in versions) or f"none; `model-factory train {spec.name}` registers one"
        print(f"error: {spec.name} has no local version {version!r}; local versions: {known}", file=sys.stderr)
        return 2
    if eng is not None:
        from cli.tryimage import ImageTryError, dev_registry, find_image, serve_image_and_ask

        try:
            image = find_image(dev_registry(settings), spec.image.repository, spec.name, chosen.version,
                               chosen.tags.get("run_id", ""))
            print(f"{spec.name} version {chosen.version}: running its image {image.pinned}", flush=True)
            status, text = serve_image_and_ask(eng, image, spec.name, chosen.version, request, check.port,
                                               float(settings.env("FACTORY_VERIFY_TIMEOUT", "120")))
        except ImageTryError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
        except ContainerError as exc:
            print(f"{spec.name} version {chosen.version}: podman failed: {exc}", file=sys.stderr)
            return 1
    else:
        with tempfile.TemporaryDirectory(prefix=f"try-{spec.name}-") as tmp:
            work = Path(tmp)
            try:
                artifacts = reg.download(spec.name, chosen.version, work / "download")
                status, text = serve_and_ask(spec.folder, _artifact_root(artifacts), work, request, chosen.version)
            except (ContextError, TimeoutError) as exc:
                print(f"{spec.name} version {chosen.version}: the server did not answer: {exc}", file=sys.stderr)
                return 1
    return _judge(spec.name, chosen.version, status, text, None if args.request is not None else check)


def _judge(model: str, version: str, status: int, text: str, check: Any) -> int:
    """Print the answer and, for the sample request (``check``), compare it with the expected response as the
    image's verification does (``model_server.compare``); 1 when it is not 200 or not as expected."""
    from model_server.compare import compare, tolerance_text

    print(f"{model} version {version} answered {status}: {text[:2000]}")
    if status != 200:
        return 1
    if check is None:
        return 0
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        print(f"{model}: the answer is not JSON", file=sys.stderr)
        return 1
    problems = compare(check.expected, answer, check.tolerance, check.rel_tolerance)
    tolerance = tolerance_text(check.tolerance, check.rel_tolerance)
    if problems:
        print(f"{model}: not the expected response (tolerance {tolerance}):", file=sys.stderr)
        for problem in problems[:10]:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"{model}: as expected-response.json expects (tolerance {tolerance}); the image's verification "
          "would pass")
    return 0


def _artifact_root(downloaded: Path) -> Path:
    """The folder holding ``model.json`` in a downloaded version (MLflow nests it under the artifact path)."""
    found = sorted(downloaded.rglob("model.json"), key=lambda p: len(p.parts))
    return found[0].parent if found else downloaded
