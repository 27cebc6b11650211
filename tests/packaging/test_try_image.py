"""``model-factory try MODEL --image``: a version trained with ``train``, its image built, verified and pushed to
a loopback dev registry as a factory run does (tagged with the version's run id), then pulled and run with
podman and asked the sample request; and each way it cannot be tried: no image, no registry, a container that
never gets ready, an image of another version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.commands.tryout import _artifact_root  # pyright: ignore[reportPrivateUsage]
from cli.main import main
from cli.tryimage import TRY_LABEL
from factory import ports
from factory.adapters.local.base_image import ensure_base_image
from factory.adapters.local.containers import engine
from factory.adapters.local.host import free_port
from factory.adapters.local.mlflow_registry import MlflowModelRegistry
from factory.adapters.local.podman import PodmanImageBuilder
from factory.catalog import load_catalog
from factory.packaging.context import assemble, model_labels, scoring_check
from factory.settings import Settings
from tests.packaging.helpers import REPO

MODEL, REPOSITORY, RUN_ID = "wine_cultivar", "models/wine-cultivar", "try-image-run-1"


def _tiny_image(registry: str, version: str, command: str) -> None:
    """Push a small image labelled as ``MODEL`` ``version`` whose server runs ``command`` to ``registry``."""
    eng = engine()
    local = f"localhost/model-factory-test/try-image:{version}"
    base = ensure_base_image(eng)
    dockerfile = (f"FROM {base}\nLABEL io.modelfactory.model={MODEL} io.modelfactory.model-version={version}\n"
                  f'CMD ["python3", "-c", {json.dumps(command)}]\n')
    eng.run(["build", "-q", "-t", local, "-"], input=dockerfile.encode())
    try:
        eng.run(["push", "-q", "--tls-verify=false", local, f"{registry}/{REPOSITORY}:{RUN_ID}"])
    finally:
        eng.run(["rmi", local], check=False)


def _try(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, registry: str) -> tuple[int, str, str]:
    monkeypatch.setenv("FACTORY_DEV_REGISTRY", registry)
    code = main(["try", MODEL, "--image"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _left() -> list[str]:
    return engine().run(["ps", "-a", "--filter", f"label={TRY_LABEL}", "--format", "{{.Names}}"]).stdout.split()


@pytest.mark.slow
def test_try_image_answers_like_the_in_process_try_and_says_why_it_cannot(registries, tmp_path, monkeypatch,
                                                                          capsys):
    _, dev, prod = registries
    repo_state = Settings.from_env().state_dir  # the build's dependency cache: the shared one
    monkeypatch.setenv("FACTORY_MODELS_DIR", str(REPO / "models"))
    monkeypatch.setenv("FACTORY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["train", MODEL, "--run-id", RUN_ID]) == 0
    capsys.readouterr()
    version = MlflowModelRegistry.from_settings(Settings.from_env()).versions(MODEL)[-1].version

    # the version's image, as the package stage builds it (tagged with the run id), in the dev registry
    folder = REPO / "models" / MODEL
    downloaded = MlflowModelRegistry.from_settings(Settings.from_env()).download(MODEL, version, tmp_path / "dl")
    context = assemble(folder, _artifact_root(downloaded), tmp_path / "ctx", model_labels(MODEL, version, RUN_ID),
                       load_catalog(REPO / "models")[MODEL].environment)
    with monkeypatch.context() as build_env:
        build_env.setenv("FACTORY_STATE_DIR", str(repo_state))
        built = PodmanImageBuilder(arches=("amd64",)).build_verify_push(
            context, ports.ImageRef(dev.registry.address, REPOSITORY, RUN_ID), scoring_check(folder))

    code, out, err = _try(capsys, monkeypatch, dev.registry.address)
    assert code == 0, err
    assert f"running its image {dev.registry.address}/{REPOSITORY}@{built.digest}" in out
    answer = json.loads(out.split("answered 200: ", 1)[1].splitlines()[0])
    expected = json.loads((folder / "model" / "expected-response.json").read_text())["predictions"]
    assert answer["predictions"] == expected
    assert "the image's verification would pass" in out
    assert _left() == [] and not engine().image_exists(f"{dev.registry.address}/{REPOSITORY}@{built.digest}")

    # the same answer as `try` without --image (in-process, same comparison)
    assert main(["try", MODEL]) == 0
    assert json.loads(capsys.readouterr().out.split("answered 200: ", 1)[1].splitlines()[0]) == answer

    # not built: the registry holds no image for this run
    code, _, err = _try(capsys, monkeypatch, prod.address)
    assert code == 2
    assert f"{MODEL} version {version} has no image: {prod.address}/{REPOSITORY}:{RUN_ID} is not there" in err

    # no registry on the port
    nothing = f"127.0.0.1:{free_port()}"
    code, _, err = _try(capsys, monkeypatch, nothing)
    assert code == 2 and f"the dev registry {nothing} does not answer" in err

    # an image whose server exits before it is ready: its last log lines
    _tiny_image(prod.address, version, "import sys; print('scoring server: cannot load model.joblib'); sys.exit(3)")
    code, _, err = _try(capsys, monkeypatch, prod.address)
    assert code == 1
    assert "stopped before" in err and "  scoring server: cannot load model.joblib" in err
    assert _left() == []

    # an image labelled with another version
    _tiny_image(prod.address, "999", "print('never run')")
    code, _, err = _try(capsys, monkeypatch, prod.address)
    assert code == 1 and f"is labelled '{MODEL}' version '999', not '{MODEL}' version '{version}'" in err
    assert _left() == []


def test_try_image_without_a_container_engine_says_so(tmp_path: Path):
    import subprocess
    import sys

    env = {"PATH": str(tmp_path), "FACTORY_STATE_DIR": str(tmp_path / "state"), "PYTHONPATH": str(REPO),
           "FACTORY_MODELS_DIR": str(REPO / "models"), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "cli.main", "try", MODEL, "--image"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "error: --image needs a container engine: no container engine: install podman" in done.stderr
    assert "Traceback" not in done.stderr
