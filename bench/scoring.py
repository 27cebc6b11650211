"""Scoring benchmark: the same score.py and model served three ways, one worker process each.

1. ours: ``model_server`` (stdlib asyncio HTTP/1.1, what every model image runs);
2. ``azureml-inference-server-http`` (``azmlinfsrv``, Azure ML's own server; installed into a separate venv
   under ``$FACTORY_STATE_DIR/bench/aml-venv`` because its pins would downgrade packages in ``.venv``);
3. raw: ``run()`` called in-process in a loop (the floor: no HTTP at all).

A loopback load generator (asyncio, keep-alive connections, bounded by a request count and a time limit)
drives each server at concurrency 1 and 16 and reports requests/s, p50 and p99. The model is a 20-feature
linear regression; the request is one row. It also builds two images and reports their sizes: ours
(``modelkit/serving/Dockerfile`` on the factory's base: the sklearn set's locked wheels in ``/opt/deps``) and
one in the seed accelerator's style (a Debian minbase with apt, made once with a native ``debootstrap``, +
build-essential + poetry install of the same libraries plus ``azureml-inference-server-http`` to serve).
It also measures what the field signals (``GET /signals``, for the fleet rollout's gates) cost per request.
Prints a table; writes ``bench/results/scoring.json``.

    .venv/bin/python bench/scoring.py [--seconds 10] [--requests 20000] [--skip-images]
    .venv/bin/python bench/scoring.py --signals-only   # the field signals' cost per request (in-process)
    .venv/bin/python bench/scoring.py --model digits [--seconds 10] [--requests 20000]

``--model digits`` serves the ONNX image model (``modelkit/environments/onnx/score.py`` over the shared
``onnx_score.py``, one base64 PNG per request) the same three ways, plus a bare onnxruntime ``session.run``
on the decoded tensor and a no-work server (one loopback round trip), and prints whether the issue's targets
are met (>= 3x azmlinfsrv at concurrency 16; p50 at 1 within 0.5 ms of raw ``run()`` + the round trip); writes
``bench/results/scoring-digits.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from factory.adapters.local.host import free_port  # noqa: E402

SCORE = REPO / "modelkit" / "serving" / "score.py"  # the kit's serving entry script
RESULTS = REPO / "bench" / "results" / "scoring.json"
N_FEATURES = 20
AML_PACKAGES = ["azureml-inference-server-http", "numpy==2.4.6", "scikit-learn==1.9.1", "joblib==1.6.0"]

SEED_STYLE_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt POETRY_VIRTUALENVS_IN_PROJECT=true
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \\
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/poetry && /opt/poetry/bin/pip install poetry
WORKDIR /app
COPY pyproject.toml /app/
RUN /opt/poetry/bin/poetry install --no-root --no-interaction
COPY score.py /app/
COPY model/ /app/model/
ENV AZUREML_MODEL_DIR=/app/model
EXPOSE 5001
CMD ["/app/.venv/bin/azmlinfsrv", "--entry_script", "/app/score.py", "--port", "5001"]
"""

SEED_STYLE_PYPROJECT = """\
[tool.poetry]
name = "model-image"
version = "0.1.0"
description = "a model image the seed accelerator's way"
authors = ["model factory bench"]
package-mode = false

[tool.poetry.dependencies]
python = ">=3.11,<3.12"
numpy = "2.4.6"
scikit-learn = "1.9.1"
joblib = "1.6.0"
azureml-inference-server-http = "*"

[[tool.poetry.source]]
name = "pypi-simple"
url = "https://pypi.org/simple/"
priority = "primary"

[build-system]
requires = ["poetry-core"]
build-backend = "poetry.core.masonry.api"
"""




def make_model(folder: Path) -> Path:
    """A seeded 20-feature linear regression as a registered-model folder (model.joblib + model.json)."""
    import joblib
    import numpy as np
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(20)
    x = rng.normal(size=(2000, N_FEATURES))
    y = x @ rng.normal(size=N_FEATURES) + 5.0 + rng.normal(scale=0.1, size=2000)
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(LinearRegression().fit(x, y), folder / "model.joblib")
    card = {"name": "bench20", "task": "regression", "features": [f"f{i}" for i in range(N_FEATURES)],
            "target": "y"}
    (folder / "model.json").write_text(json.dumps(card))
    return folder


def request_body() -> bytes:
    return json.dumps({"data": [[round(0.1 * i - 1, 3) for i in range(N_FEATURES)]]}).encode()


# ---------------------------------------------------------------------------------------------- load generator
async def _worker(port: int, body: bytes, state: dict[str, Any], latencies: list[float]) -> None:
    """One client: sequential requests on a keep-alive connection; reconnects when the server closes it
    (the reconnect counts in that request's latency, as a client would feel it)."""
    request = (b"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    writer: asyncio.StreamWriter | None = None
    try:
        while state["issued"] < state["max_requests"] and time.perf_counter() < state["deadline"]:
            state["issued"] += 1
            started = time.perf_counter()
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            if "content-length" in headers:
                await reader.readexactly(int(headers["content-length"]))
            else:
                await reader.read()
            latencies.append(time.perf_counter() - started)
            if not lines[0].split(" ")[1].startswith("2"):
                state["errors"] += 1
            if headers.get("connection", "").lower() == "close" or "content-length" not in headers:
                writer.close()
                writer = None
                state["reconnects"] += 1
    finally:
        if writer is not None:
            writer.close()


async def _load(port: int, body: bytes, concurrency: int, max_requests: int, max_seconds: float) -> dict[str, Any]:
    state: dict[str, Any] = {"issued": 0, "errors": 0, "reconnects": 0, "max_requests": max_requests,
                             "deadline": time.perf_counter() + max_seconds}
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(_worker(port, body, state, latencies) for _ in range(concurrency)))
    result = summary(latencies, time.perf_counter() - started, state["errors"])
    result["new_connections"] = state["reconnects"] + concurrency
    return result


def summary(latencies: list[float], seconds: float, errors: int = 0) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {"requests": len(ordered), "errors": errors, "seconds": round(seconds, 3),
            "rps": round(len(ordered) / seconds, 1),
            "p50_ms": round(statistics.median(ordered) * 1000, 3),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3)}


def load(port: int, body: bytes, concurrency: int, max_requests: int, max_seconds: float) -> dict[str, Any]:
    """Drive ``POST /score`` on 127.0.0.1:port with ``concurrency`` keep-alive connections."""
    asyncio.run(_load(port, body, concurrency, min(500, max_requests), 5))  # warm-up
    return asyncio.run(_load(port, body, concurrency, max_requests, max_seconds))


# ----------------------------------------------------------------------------------------------------- servers
def wait_http(url: str, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer 200 within {timeout} s")


def aml_venv(state_dir: Path) -> Path | None:
    """The venv with azureml-inference-server-http (made on first use); None when it cannot be installed."""
    venv = state_dir / "bench" / "aml-venv"
    if not (venv / "bin" / "azmlinfsrv").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        proc = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *AML_PACKAGES], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            print(f"azureml-inference-server-http could not be installed: {proc.stderr[-500:]}", file=sys.stderr)
            return None
    return venv


def bench_server(name: str, command: list[str], env: dict[str, str], ready_url: str, port: int, body: bytes,
                 args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd=log_dir)
    try:
        wait_http(ready_url, 120, proc)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/score", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            answer = json.loads(resp.read())
        results = {"sample_answer": answer}
        for concurrency, requests in ((1, args.requests // 4), (16, args.requests)):
            results[f"c{concurrency}"] = load(port, body, concurrency, requests, args.seconds)
        return results
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def bench_raw(model_dir: Path, body: bytes, n: int) -> dict[str, Any]:
    os.environ["AZUREML_MODEL_DIR"] = str(model_dir)
    spec = importlib.util.spec_from_file_location("bench_score", SCORE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.init()
    text = body.decode()
    for _ in range(500):
        module.run(text)
    latencies = []
    started = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        module.run(text)
        latencies.append(time.perf_counter() - t0)
    result = summary(latencies, time.perf_counter() - started)
    result["mean_us"] = round(statistics.fmean(latencies) * 1e6, 1)
    return result


def bench_signals(model_dir: Path, body: bytes, n: int) -> dict[str, Any]:
    """The cost of the field signals (``model_server/signals.py``) on the request path: the server's
    ``score`` (scores and counts) against its ``_score`` (scores only), in-process, interleaved in rounds so
    drift hits both alike. Reports each one's mean and the difference in µs per request."""
    from model_server.server import ScoringApp, load_scoring_script

    os.environ["AZUREML_MODEL_DIR"] = str(model_dir)
    app = ScoringApp(load_scoring_script(SCORE))
    app.initialise()
    for _ in range(500):
        app.score(body)
    counted: list[float] = []
    bare: list[float] = []
    rounds = 20
    for _ in range(rounds):
        for fn, sink in ((app.score, counted), (app._score, bare)):  # noqa: SLF001 - the uncounted path
            started = time.perf_counter()
            for _ in range(n // rounds):
                fn(body)
            sink.append((time.perf_counter() - started) / (n // rounds))
    with_us, without_us = statistics.median(counted) * 1e6, statistics.median(bare) * 1e6
    result = app._score(body)[2]  # noqa: SLF001 - the counting alone, on a real answer
    from model_server.signals import ServingSignals

    alone = ServingSignals()
    started = time.perf_counter()
    for _ in range(n):
        alone.observe(0.001, result)
    observe_us = (time.perf_counter() - started) / n * 1e6
    return {"requests": n, "observe_us": round(observe_us, 2), "with_signals_us": round(with_us, 2),
            "without_signals_us": round(without_us, 2),
            "overhead_us": round(with_us - without_us, 2),
            "overhead_percent": round(100 * (with_us - without_us) / without_us, 2),
            "snapshot": {k: v for k, v in app.signals.snapshot().items() if k != "histogram"}}


# ------------------------------------------------------------------------------------------------------ images
SEED_BASE = "localhost/model-factory-bench/seed-base:bookworm"


def seed_base(eng: Any) -> str:
    """A Debian bookworm minbase with Python 3.11, venv, apt and a shell (what ``python:3.11-slim`` gives the
    seed's Dockerfile): its ``RUN apt-get``/``pip`` steps cannot run on the factory's base, which has none of
    them. Made once with a native ``debootstrap`` (host architecture only) and cached in the engine."""
    from factory.adapters.local.base_image import _mirror

    if eng.image_exists(SEED_BASE):
        return SEED_BASE
    with tempfile.TemporaryDirectory(prefix="mf-bench-seed-base-") as tmp:
        root = Path(tmp) / "rootfs"
        subprocess.run([shutil.which("debootstrap") or "/usr/sbin/debootstrap", "--variant=minbase",
                        "--include=python3,python3-venv,ca-certificates", "bookworm", str(root), _mirror()],
                       check=True, capture_output=True, timeout=1800)
        host_ca = Path("/etc/ssl/certs/ca-certificates.crt")
        if host_ca.exists():  # pip in the build reaches PyPI through this machine's TLS proxy
            shutil.copyfile(host_ca, root / "etc/ssl/certs/ca-certificates.crt")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run([eng.binary, "import", "--change", "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
                        "--change", 'CMD ["python3"]', "-", SEED_BASE], stdin=tar.stdout, env=eng.env, check=True,
                       capture_output=True, timeout=600)
        tar.wait()
    return SEED_BASE


def image_sizes(model_dir: Path) -> dict[str, Any]:
    from factory.adapters.local.base_image import ensure_base_image
    from factory.adapters.local.containers import engine
    from factory.packaging.context import assemble, model_labels

    eng = engine()
    base = ensure_base_image(eng)
    seed_style_base = seed_base(eng)
    out: dict[str, Any] = {"base": base, "seed_style_base": seed_style_base}
    with tempfile.TemporaryDirectory(prefix="mf-bench-img-") as tmp:
        ctx = assemble(REPO / "models" / "nyc_taxi", model_dir, Path(tmp) / "ours", model_labels("bench20", "1"))
        seed = Path(tmp) / "seed"
        seed.mkdir()
        (seed / "Dockerfile").write_text(SEED_STYLE_DOCKERFILE)
        (seed / "pyproject.toml").write_text(SEED_STYLE_PYPROJECT)
        shutil.copy(SCORE, seed / "score.py")
        shutil.copytree(model_dir, seed / "model")
        for name, path, extra, from_image in (("ours", Path(ctx.path), ["--format", "docker"], base),
                                              ("seed_style", seed, [], seed_style_base)):
            tag = f"localhost/model-factory-bench/{name}:latest"
            started = time.monotonic()
            eng.run(["build", "--network=host", *extra, "--build-arg", f"BASE_IMAGE={from_image}", "-t", tag,
                     str(path)], timeout=3600)
            size = int(eng.run(["image", "inspect", "--format", "{{.Size}}", tag]).stdout.strip())
            out[name] = {"image": tag, "bytes": size, "mb": round(size / 1e6, 1),
                         "build_seconds": round(time.monotonic() - started, 1)}
    for key, ref in (("base_mb", base), ("seed_style_base_mb", seed_style_base)):
        out[key] = round(int(eng.run(["image", "inspect", "--format", "{{.Size}}", ref]).stdout.strip()) / 1e6, 1)
    out["ratio_seed_style_to_ours"] = round(out["seed_style"]["bytes"] / out["ours"]["bytes"], 2)
    return out


def table(results: dict[str, Any]) -> str:
    rows = [f"{'server':<34} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"] * bool(
        results.get("raw_run"))
    for name, label in (("ours", "ours (model_server)"), ("azureml", "azureml-inference-server-http")):
        if results.get("raw_run") is None:
            break
        if name not in results["servers"]:
            rows.append(f"{label:<34} not measured: {results.get('azureml_error', '')}")
            continue
        for conc in ("c1", "c16"):
            r = results["servers"][name][conc]
            rows.append(f"{label:<34} {conc[1:]:>4} {r['rps']:>9.0f} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} "
                        f"{r['errors']:>6}")
    raw = results["raw_run"] or {}
    if raw:
        rows.append(f"{'raw run() in-process':<34} {'1':>4} {raw['rps']:>9.0f} {raw['p50_ms']:>8.3f} "
                    f"{raw['p99_ms']:>8.3f} {0:>6}   (mean {raw['mean_us']} µs)")
    signals = results.get("signals")
    if signals:
        rows.append(f"field signals (GET /signals): counting one answer costs {signals['observe_us']} µs; "
                    f"score() with counting {signals['with_signals_us']} µs vs {signals['without_signals_us']} µs "
                    f"without (A/B, interleaved: {signals['overhead_us']:+} µs, {signals['overhead_percent']:+} %)")
    if "speedup_c16" in results:
        rows.append(f"ours / azureml at concurrency 16: {results['speedup_c16']}x")
    images = results.get("images")
    if images:
        rows.append(f"image sizes (uncompressed): ours {images['ours']['mb']} MB on the factory's base "
                    f"({images['base_mb']} MB), seed style {images['seed_style']['mb']} MB on a Debian minbase with "
                    f"apt ({images['seed_style_base_mb']} MB); ratio {images['ratio_seed_style_to_ours']}x")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="time limit per load run")
    parser.add_argument("--requests", type=int, default=20000, help="request limit per load run at concurrency 16")
    parser.add_argument("--skip-images", action="store_true", help="do not build images to compare sizes")
    parser.add_argument("--signals-only", action="store_true",
                        help="only the field signals' cost on the request path (in-process; seconds)")
    parser.add_argument("--output", type=Path, default=None, help="default: bench/results/scoring[-digits].json")
    parser.add_argument("--model", choices=("bench20", "digits"), default="bench20",
                        help="bench20: the joblib regression; digits: the ONNX image model (its score.py)")
    args = parser.parse_args(argv)
    if args.model == "digits":
        return main_digits(args)
    args.output = args.output or RESULTS
    state_dir = Path(os.environ.get("FACTORY_STATE_DIR", REPO / ".factory")).resolve()
    body = request_body()
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                           "platform": platform.platform()},
                               "model": f"LinearRegression, {N_FEATURES} features, one row per request",
                               "limits": {"seconds": args.seconds, "requests_c16": args.requests,
                                          "requests_c1": args.requests // 4},
                               "servers": {}}
    if args.signals_only:
        with tempfile.TemporaryDirectory(prefix="mf-bench-") as tmp:
            results["signals"] = bench_signals(make_model(Path(tmp) / "model"), body, 40000)
        args.output = args.output.with_name("scoring-signals.json")
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n")
        print(table({"servers": {}, "raw_run": None, **results}))
        print(f"results: {args.output}")
        return 0
    with tempfile.TemporaryDirectory(prefix="mf-bench-") as tmp:
        work = Path(tmp)
        model_dir = make_model(work / "model")
        base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AZUREML_MODEL_DIR": str(model_dir),
                    "HOME": str(work)}
        port = free_port()
        results["servers"]["ours"] = bench_server(
            "ours", [sys.executable, "-m", "model_server", "--score", str(SCORE), "--host", "127.0.0.1",
                     "--port", str(port)], {**base_env, "PYTHONPATH": str(REPO), "SCORING_LOG_LEVEL": "WARNING"},
            f"http://127.0.0.1:{port}/ready", port, body, args, work)
        venv = aml_venv(state_dir)
        if venv is None:
            results["azureml_error"] = "azureml-inference-server-http could not be installed"
        else:
            port, health = free_port(), free_port()
            results["servers"]["azureml"] = bench_server(
                "azureml", [str(venv / "bin" / "azmlinfsrv"), "--entry_script", str(SCORE), "--port", str(port),
                            "--health_port", str(health), "--worker_count", "1"],
                {**base_env, "WORKER_COUNT": "1"}, f"http://127.0.0.1:{port}/", port, body, args, work)
            ours, theirs = results["servers"]["ours"]["c16"]["rps"], results["servers"]["azureml"]["c16"]["rps"]
            results["speedup_c16"] = round(ours / theirs, 2)
        results["raw_run"] = bench_raw(model_dir, body, 20000)
        results["signals"] = bench_signals(model_dir, body, 40000)
        if not args.skip_images:
            results["images"] = image_sizes(model_dir)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"results: {args.output}")
    return 0


def main_digits(args: argparse.Namespace) -> int:
    """The digits ONNX model: ours vs azmlinfsrv with the same score.py, and the in-process floors."""
    import digits_bench

    state_dir = Path(os.environ.get("FACTORY_STATE_DIR", REPO / ".factory")).resolve()
    body = digits_bench.request_body()
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                               "model": "digits: ONNX CNN, one 8x8 PNG per request (base64 JSON)", "servers": {}}
    with tempfile.TemporaryDirectory(prefix="mf-bench-digits-") as tmp:
        work = Path(tmp)
        model_dir = digits_bench.make_model(work)
        results["precision"] = json.loads((model_dir / "model.json").read_text())["precision"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AZUREML_MODEL_DIR": str(model_dir),
               "HOME": str(work), "PYTHONPATH": str(REPO), "ORT_INTRA_OP_THREADS": "1"}
        port = free_port()
        results["servers"]["ours"] = bench_server(
            "ours", [sys.executable, "-m", "model_server", "--score", str(digits_bench.SCORE), "--host",
                     "127.0.0.1", "--port", str(port)], {**env, "SCORING_LOG_LEVEL": "WARNING"},
            f"http://127.0.0.1:{port}/ready", port, body, args, work)
        AML_PACKAGES.extend(digits_bench.AML_EXTRA)
        venv = aml_venv(state_dir)
        if venv is None:
            results["azureml_error"] = "azureml-inference-server-http could not be installed"
        else:
            port, health = free_port(), free_port()
            results["servers"]["azureml"] = bench_server(
                "azureml", [str(venv / "bin" / "azmlinfsrv"), "--entry_script", str(digits_bench.SCORE), "--port",
                            str(port), "--health_port", str(health), "--worker_count", "1"],
                {**env, "WORKER_COUNT": "1"}, f"http://127.0.0.1:{port}/", port, body, args, work)
            ours, theirs = results["servers"]["ours"]["c16"]["rps"], results["servers"]["azureml"]["c16"]["rps"]
            results["speedup_c16"] = round(ours / theirs, 2)
        port = free_port()
        results["loopback"] = bench_server("loopback", digits_bench.loopback_command(port), env,
                                           f"http://127.0.0.1:{port}/", port, body, args, work)
        floors = digits_bench.bench_raw(model_dir, body, 5000)
        results["raw_run"], results["raw_session_run"] = floors["run"], floors["session_run"]
        results["targets"] = digits_bench.verdict(results)
    output = args.output or RESULTS.with_name("scoring-digits.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    bare = results["raw_session_run"]
    print(f"{'raw onnxruntime session.run':<34} {'1':>4} {bare['rps']:>9.0f} {bare['p50_ms']:>8.3f} "
          f"{bare['p99_ms']:>8.3f} {0:>6}   (precision {results['precision']})")
    loop = results["loopback"]["c1"]
    print(f"{'loopback round trip (no work)':<34} {'1':>4} {loop['rps']:>9.0f} {loop['p50_ms']:>8.3f} "
          f"{loop['p99_ms']:>8.3f} {loop['errors']:>6}")
    goals = results["targets"]
    print(f"targets: ours >= 3x azureml at 16: {'met' if goals.get('speedup_met') else 'NOT met'}; ours p50 at 1 "
          f"{goals['p50_c1_over_floor_ms']:+.3f} ms over raw run() + loopback ({goals['p50_c1_floor_ms']:.3f} ms), "
          f"limit +0.5: {'met' if goals['p50_met'] else 'NOT met'}")
    print(f"results: {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
