"""Real local builds: build → run → verify → push for every model, on podman and local registries."""

from __future__ import annotations

import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from factory import kit, ports
from factory.adapters.local.containers import engine
from factory.adapters.local.host import free_port
from factory.adapters.local.podman import VERIFY_LABEL, PodmanImageBuilder, remote_image
from factory.adapters.local.registry import LocalImageRegistry
from factory.packaging.context import CONTEXT_LABEL, assemble, model_labels, scoring_check
from model_server.check import http, wait_ready
from tests.packaging.helpers import MODELS, REPO

pytestmark = pytest.mark.slow
ARCHES = ("amd64",)  # the build/verify/push/promote logic; both architectures: test_layers.py


def Builder() -> PodmanImageBuilder:  # noqa: N802 (reads like the class it makes)
    return PodmanImageBuilder(arches=ARCHES)


def _context(model: str, artifacts: Path, dest: Path, version: str = "1") -> ports.BuildContext:
    return assemble(REPO / "models" / model, artifacts, dest, model_labels(model, version, f"run-{model}", "abc123"))


def _leftover_containers(ref: ports.ImageRef) -> list[str]:
    """Verification containers for ``ref`` still there (others may be verifying other images meanwhile)."""
    target = f"{ref.registry}/{ref.repository}:{ref.tag}"
    return engine().run(["ps", "-a", "--filter", f"label={VERIFY_LABEL}={target}", "--format", "{{.Names}}"]
                        ).stdout.split()


@pytest.mark.parametrize("model", MODELS)
def test_build_verify_push_then_promote(model, artifacts, registries, tmp_path):
    receiver, dev, prod = registries
    context = _context(model, artifacts(model), tmp_path / "ctx")
    ref = ports.ImageRef(dev.registry.address, f"models/{model.replace('_', '-')}", "1")
    builder = Builder()

    built = builder.build_verify_push(context, ref, scoring_check(REPO / "models" / model))

    assert built.digest.startswith("sha256:")
    assert "HEALTHCHECK passed" in built.log_tail
    registry = LocalImageRegistry(dev=dev.registry.address, prod=prod.address)
    assert registry.digest(ref) == built.digest
    labels = remote_image(f"{ref.registry}/{ref.repository}:1")["Labels"]
    assert labels[CONTEXT_LABEL] == context.sha256
    assert labels["org.opencontainers.image.title"] == model
    assert labels["org.opencontainers.image.version"] == "1"
    assert labels["org.opencontainers.image.revision"] == "abc123"
    assert labels["io.modelfactory.run-id"] == f"run-{model}"
    pushed = receiver.wait_for(lambda e: e["subject"] == f"{ref.repository}:1")
    assert [e["data"]["target"]["digest"] for e in pushed] == [built.digest]

    # the same context again: no build, same digest, no second push event
    started = time.monotonic()
    again = builder.build_verify_push(_context(model, artifacts(model), tmp_path / "ctx2"), ref,
                                      scoring_check(REPO / "models" / model))
    assert again.digest == built.digest
    assert time.monotonic() - started < 10
    time.sleep(1.5)
    assert len([e for e in receiver.events if e["subject"] == f"{ref.repository}:1"]) == 1

    promoted = registry.promote(built.ref, model.replace("_", "-"), "1")
    assert promoted.digest == built.digest
    assert registry.digest(ports.ImageRef(prod.address, model.replace("_", "-"), "1")) == built.digest
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
    shutil.copytree(artifacts("vibration_anomaly"), broken)
    (broken / "model.joblib").write_bytes(b"not a pickle")
    context = _context("vibration_anomaly", broken, tmp_path / "ctx", version="5")
    ref = ports.ImageRef(dev.registry.address, "models/vibration-anomaly", "5")

    with pytest.raises(ports.VerificationFailed) as failure:
        Builder().build_verify_push(context, ref, scoring_check(REPO / "models" / "vibration_anomaly"))

    assert "score.init()" in failure.value.logs or "pickle" in failure.value.logs.lower()
    assert LocalImageRegistry(dev=dev.registry.address).digest(ref) is None


def test_image_answers_bad_input_with_400_and_runs_as_non_root(artifacts, registries, tmp_path):
    _, dev, _ = registries
    context = _context("wine_cultivar", artifacts("wine_cultivar"), tmp_path / "ctx", version="2")
    ref = ports.ImageRef(dev.registry.address, "models/wine-cultivar", "2")
    built = Builder().build_verify_push(context, ref, scoring_check(REPO / "models" / "wine_cultivar"))
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
    ref = ports.ImageRef(dev.registry.address, "models/nyc-taxi", "run-twice")
    contexts = [_context("nyc_taxi", artifacts("nyc_taxi"), tmp_path / f"ctx{i}", version="3") for i in range(3)]
    check = scoring_check(REPO / "models" / "nyc_taxi")
    with ThreadPoolExecutor(max_workers=3) as pool:
        built = list(pool.map(lambda ctx: Builder().build_verify_push(ctx, ref, check), contexts))
    assert len({b.digest for b in built}) == 1
    receiver.wait_for(lambda e: e["subject"] == "models/nyc-taxi:run-twice")
    time.sleep(1.5)
    assert len([e for e in receiver.events if e["subject"] == "models/nyc-taxi:run-twice"]) == 1
