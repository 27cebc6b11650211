"""Real local builds: build → run → verify → push, on podman and local registries.

One model (wine_cultivar) stands for all: the build, verification, push and promotion logic is the same for every
model, and the end-to-end run (tests/e2e) builds, verifies, pushes and promotes every repository model. Its one
good image is built once per module and read by the tests that only look at it; each failure path builds its own.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from factory import kit, ports
from factory.adapters.local.containers import engine
from factory.adapters.local.host import free_port
from factory.adapters.local.podman import VERIFY_LABEL, PodmanImageBuilder, remote_image
from factory.adapters.local.registry import LocalImageRegistry
from factory.packaging.context import CONTEXT_LABEL, assemble, model_labels, scoring_check
from model_server.check import http, wait_ready
from tests.packaging.conftest import running_registries
from tests.packaging.helpers import REPO, EventReceiver

pytestmark = pytest.mark.slow
ARCHES = ("amd64",)  # the build/verify/push/promote logic; both architectures: tests/edge/test_update_layers.py
MODEL = "wine_cultivar"


def Builder() -> PodmanImageBuilder:  # noqa: N802 (reads like the class it makes)
    return PodmanImageBuilder(arches=ARCHES)


def _context(model: str, artifacts: Path, dest: Path, version: str = "1") -> ports.BuildContext:
    return assemble(REPO / "models" / model, artifacts, dest, model_labels(model, version, f"run-{model}", "abc123"))


def _leftover_containers(ref: ports.ImageRef) -> list[str]:
    """Verification containers for ``ref`` still there (others may be verifying other images meanwhile)."""
    target = f"{ref.registry}/{ref.repository}:{ref.tag}"
    return engine().run(["ps", "-a", "--filter", f"label={VERIFY_LABEL}={target}", "--format", "{{.Names}}"]
                        ).stdout.split()


@dataclass(frozen=True)
class GoodBuild:
    """wine_cultivar version 1 built, verified and pushed once for the module, with what saw it happen."""
    receiver: EventReceiver
    dev: str  # registry address (its push events go to ``receiver``)
    prod: str
    context: ports.BuildContext
    ref: ports.ImageRef
    built: ports.BuiltImage
    artifacts: Path


@pytest.fixture(scope="module")
def good_build(artifacts, tmp_path_factory) -> Iterator[GoodBuild]:
    work = tmp_path_factory.mktemp("good-build")
    with running_registries(work) as (receiver, dev, prod):
        context = _context(MODEL, artifacts(MODEL), work / "ctx")
        ref = ports.ImageRef(dev.registry.address, f"models/{MODEL.replace('_', '-')}", "1")
        built = Builder().build_verify_push(context, ref, scoring_check(REPO / "models" / MODEL))
        yield GoodBuild(receiver, dev.registry.address, prod.address, context, ref, built, artifacts(MODEL))


def test_build_verify_push_then_promote(good_build, tmp_path):
    receiver, context, ref, built = good_build.receiver, good_build.context, good_build.ref, good_build.built
    assert built.digest.startswith("sha256:")
    assert "HEALTHCHECK passed" in built.log_tail
    registry = LocalImageRegistry(dev=good_build.dev, prod=good_build.prod)
    assert registry.digest(ref) == built.digest
    labels = remote_image(f"{ref.registry}/{ref.repository}:1")["Labels"]
    assert labels[CONTEXT_LABEL] == context.sha256
    assert labels["org.opencontainers.image.title"] == MODEL
    assert labels["org.opencontainers.image.version"] == "1"
    assert labels["org.opencontainers.image.revision"] == "abc123"
    assert labels["io.modelfactory.run-id"] == f"run-{MODEL}"
    pushed = receiver.wait_for(lambda e: e["subject"] == f"{ref.repository}:1")
    assert [e["data"]["target"]["digest"] for e in pushed] == [built.digest]

    # the same context again: no build, same digest, no second push event
    started = time.monotonic()
    again = Builder().build_verify_push(_context(MODEL, good_build.artifacts, tmp_path / "ctx2"), ref,
                                        scoring_check(REPO / "models" / MODEL))
    assert again.digest == built.digest
    assert time.monotonic() - started < 10
    time.sleep(1.5)
    assert len([e for e in receiver.events if e["subject"] == f"{ref.repository}:1"]) == 1

    repository = MODEL.replace("_", "-")
    promoted = registry.promote(built.ref, repository, "1")
    assert promoted.digest == built.digest
    assert registry.digest(ports.ImageRef(good_build.prod, repository, "1")) == built.digest
    assert _leftover_containers(ref) == []


def test_wrong_expected_response_is_not_pushed_and_logs_are_reported(artifacts, registries, tmp_path):
    receiver, dev, _ = registries
    model_folder = tmp_path / "wine_cultivar"
    shutil.copytree(REPO / "models" / "wine_cultivar" / "model", model_folder / "model")
    (model_folder / "model" / "expected-response.json").write_text(json.dumps(
        {"predictions": [2, 0, 1], "tolerance": 0}))
    context = assemble(model_folder, artifacts("wine_cultivar"), tmp_path / "ctx",
                       model_labels("wine_cultivar", "9", "run-bad", ""))
    ref = ports.ImageRef(dev.registry.address, "models/wine-cultivar", "9")
    local = f"localhost/model-factory-build/{ref.repository}:{context.sha256[:20]}"

    seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:  # proves the label filter below sees this build's verification container
        while not done.is_set():
            seen.update(_leftover_containers(ref))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with pytest.raises(ports.VerificationFailed) as failure:
            Builder().build_verify_push(context, ref, scoring_check(model_folder))
    finally:
        done.set()
        watcher.join()

    assert seen  # a verification container ran ...
    assert "predictions[0]: expected 2" in str(failure.value)
    assert "init() finished" in failure.value.logs  # the container's own log lines
    assert LocalImageRegistry(dev=dev.registry.address).digest(ref) is None
    assert not engine().image_exists(local)
    assert _leftover_containers(ref) == []
    time.sleep(1.5)
    assert receiver.events == []


def test_an_image_whose_healthcheck_fails_is_not_pushed(artifacts, registries, tmp_path):
    _, dev, _ = registries
    model_folder = tmp_path / "wine_cultivar"
    shutil.copytree(REPO / "models" / "wine_cultivar" / "model", model_folder / "model")
    dockerfile = model_folder / "model" / "Dockerfile"  # the model's own Dockerfile overrides the kit's
    template = kit.serving_file(REPO / "models" / "wine_cultivar", "Dockerfile")
    assert template is not None
    shutil.copyfile(template, dockerfile)
    dockerfile.write_text(dockerfile.read_text().replace("127.0.0.1:5001/ready", "127.0.0.1:5001/no-such-route"))
    context = assemble(model_folder, artifacts("wine_cultivar"), tmp_path / "ctx",
                       model_labels("wine_cultivar", "8", "run-unhealthy", ""))
    ref = ports.ImageRef(dev.registry.address, "models/wine-cultivar", "8")

    with pytest.raises(ports.VerificationFailed) as failure:
        Builder().build_verify_push(context, ref, scoring_check(model_folder))

    assert "HEALTHCHECK failed (exit 1)" in str(failure.value) and "404" in str(failure.value)
    assert LocalImageRegistry(dev=dev.registry.address).digest(ref) is None
    assert _leftover_containers(ref) == []


def test_model_that_cannot_load_fails_with_its_logs(artifacts, registries, tmp_path):
    _, dev, _ = registries
    broken = tmp_path / "broken-artifacts"
    shutil.copytree(artifacts(MODEL), broken)
    (broken / "model.joblib").write_bytes(b"not a pickle")
    context = _context(MODEL, broken, tmp_path / "ctx", version="5")
    ref = ports.ImageRef(dev.registry.address, "models/wine-cultivar", "5")

    with pytest.raises(ports.VerificationFailed) as failure:
        Builder().build_verify_push(context, ref, scoring_check(REPO / "models" / MODEL))

    assert "score.init()" in failure.value.logs or "pickle" in failure.value.logs.lower()
    assert LocalImageRegistry(dev=dev.registry.address).digest(ref) is None


def test_image_answers_bad_input_with_400_and_runs_as_non_root(good_build):
    ref, built = good_build.ref, good_build.built
    image = f"{ref.registry}/{ref.repository}@{built.digest}"
    eng = engine()
    eng.run(["pull", "--tls-verify=false", image])  # what was pushed (the builder removes its local tags)
    inspected = json.loads(eng.run(["image", "inspect", image]).stdout)[0]
    assert inspected["Config"]["User"] == "10001:10001"
    assert "/ready" in " ".join(inspected["Healthcheck"]["Test"])
    port = free_port()
    eng.run(["run", "-d", "--name", "mf-test-badinput", "--no-healthcheck", "--tls-verify=false",
             "-p", f"127.0.0.1:{port}:5001", image])
    try:
        wait_ready(f"http://127.0.0.1:{port}", 60)
        status, body = http("POST", f"http://127.0.0.1:{port}/score", b'{"data": [[1, 2]]}')
        assert status == 400 and b"expected 13 values" in body
        status, body = http("POST", f"http://127.0.0.1:{port}/score", b"{not json")
        assert status == 400 and b"not JSON" in body
    finally:
        eng.run(["rm", "-f", "-t", "0", "mf-test-badinput"], check=False)


def test_concurrent_attempts_for_the_same_context_build_and_push_once(artifacts, registries, tmp_path):
    receiver, dev, _ = registries
    ref = ports.ImageRef(dev.registry.address, "models/wine-cultivar", "run-twice")
    contexts = [_context(MODEL, artifacts(MODEL), tmp_path / f"ctx{i}", version="3") for i in range(3)]
    check = scoring_check(REPO / "models" / MODEL)
    with ThreadPoolExecutor(max_workers=3) as pool:
        built = list(pool.map(lambda ctx: Builder().build_verify_push(ctx, ref, check), contexts))
    assert len({b.digest for b in built}) == 1
    receiver.wait_for(lambda e: e["subject"] == "models/wine-cultivar:run-twice")
    time.sleep(1.5)
    assert len([e for e in receiver.events if e["subject"] == "models/wine-cultivar:run-twice"]) == 1
