"""Fixtures for the edge smoke tests: a real local registry, real images pushed by digest, a real simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from factory.adapters.local.host import free_port

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"




def wait_http(url: str, timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Distribution registry on 127.0.0.1 (plain http); yields ``127.0.0.1:PORT``."""
    folder = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: "
        f"{folder / 'data'}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/v2/")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def wine_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """wine_cultivar trained on its sample data with its own src (model.joblib, model.json): once per session."""
    from tests.packaging.helpers import train_with_src

    return train_with_src("wine_cultivar", tmp_path_factory.mktemp("wine-train"))


@pytest.fixture(scope="session")
def wine_image(registry: str, wine_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """wine_cultivar version 1 (``wine_artifacts``), built for amd64 and arm64, verified on both and pushed by
    digest (the index digest, as an edge manifest names it): once per session, since every real-model device
    test takes the same index, each device pulls its own architecture, and the update test builds version 2 on
    it."""
    from tests.packaging.helpers import build_pushed

    digest = build_pushed(ROOT / "models" / "wine_cultivar", wine_artifacts,
                          tmp_path_factory.mktemp("wine-image") / "ctx", registry, "1", run_id="run-edge-wine_cultivar")
    return f"{registry}/models/wine-cultivar@{digest}"


@dataclass(frozen=True)
class EdgeImages:
    smoke: str  # registry/repo@sha256:...
    good_model: str
    wrong_model: str
    silent_smoke: str  # a "smoke module" that never reports (the test model image: it never touches its twin)


@pytest.fixture(scope="session")
def edge_images(registry: str) -> EdgeImages:
    """The smoke module and the test model images (right and wrong answers), built and pushed by digest."""
    from factory.adapters.local.base_image import ensure_base_image
    from factory.adapters.local.containers import engine
    from factory.adapters.local.smoke_image import build_smoke_image, push_by_digest

    eng = engine()
    base = ensure_base_image(eng)
    smoke = push_by_digest(build_smoke_image(), registry, "model-factory/smoketest")
    refs = {}
    good, wrong = "localhost/mf-edge-test-model:good", "localhost/mf-edge-test-model:wrong"
    eng.run(["build", "-q", "--network=host", "--build-arg", f"BASE_IMAGE={base}", "-t", good,
             str(FIXTURES / "test_model")])
    eng.run(["build", "-q", "--network=host", "--build-arg", f"GOOD_IMAGE={good}", "-t", wrong,
             "-f", str(FIXTURES / "test_model" / "Dockerfile.wrong"), str(FIXTURES / "test_model")])
    for name, tag in (("good", good), ("wrong", wrong)):
        refs[name] = push_by_digest(tag, registry, f"edge-test/model-{name}")
    assert refs["good"].split("@")[1] != refs["wrong"].split("@")[1], "the wrong model must be a different image"
    return EdgeImages(smoke=smoke, good_model=refs["good"], wrong_model=refs["wrong"], silent_smoke=refs["good"])


@dataclass
class RunningSimulator:
    url: str
    state_dir: Path
    proc: subprocess.Popen


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[RunningSimulator]:
    """The edge simulator as `model-factory up` starts it: a process with an HTTP API on a free port."""
    yield from _simulator(tmp_path / "edge-sim")


@pytest.fixture
def arm64_simulator(tmp_path: Path) -> Iterator[RunningSimulator]:
    """The arm64 test device (`--arch arm64`): runs the arm64 image of an index, under qemu on amd64."""
    yield from _simulator(tmp_path / "edge-sim-arm64", "arm64")


def _simulator(state_dir: Path, arch: str = "", policy: Path | None = None) -> Iterator[RunningSimulator]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    state_dir.parent.mkdir(parents=True, exist_ok=True)
    log = (state_dir.parent / f"{state_dir.name}.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "localstack.edge_simulator", "--port", str(port),
                             "--state-dir", str(state_dir), *(["--arch", arch] if arch else []),
                             *(["--policy", str(policy)] if policy else [])],
                            cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/health")
        assert json.loads((state_dir / "edge-sim.json").read_text())["url"] == url
        yield RunningSimulator(url, state_dir, proc)
    finally:
        proc.terminate()
        proc.wait(10)
        subprocess.run([sys.executable, "-m", "localstack.edge_simulator", "--state-dir", str(state_dir),
                        "--remove-all"], cwd=ROOT, env=env, capture_output=True, timeout=120)
