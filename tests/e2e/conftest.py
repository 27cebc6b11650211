"""The real local stack for end-to-end tests: Azurite, two registries, the edge simulator, devhost running
the product Functions app, on free loopback ports, with a models folder of the test's own (the three
example models plus variants made by copying one, which also proves a new folder needs no code)."""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli.client import FactoryClient
from factory.kit import place_kit_beside
from localstack.stack import ROOT, LocalStack, StackPorts, fleet_devices
from tests.e2e.helpers import IMPATIENT_APPROVAL_HOURS, approval_links, approve, sample

BROKEN_MODEL = "broken_yaml"
REPOSITORY_MODELS = tuple(sorted(p.parent.name for p in (ROOT / "models").glob("*/model.yaml")))
# Every model trains, builds and verifies at once on two cores: in `make run` beside a test run, a model took up to
# 1,183 s (shapes_detector) to ask for approval. A bound on waiting, not a speed target.
ALL_MODELS_TIMEOUT_S = 600.0 + 300.0 * len(REPOSITORY_MODELS)
APPROVAL_TIMEOUT_S = 900  # the app-wide default; the timeout test uses a model whose model.yaml sets its own


def make_variant(models_dir: Path, name: str, source: str = "wine_cultivar",
                 change_yaml: Callable[[dict], None] | None = None,
                 change_folder: Callable[[Path], None] | None = None) -> Path:
    """Copy ``models/<source>`` to ``<models_dir>/<name>``, renamed, then apply the changes."""
    folder = models_dir / name
    shutil.copytree(ROOT / "models" / source, folder, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    spec = yaml.safe_load((folder / "model.yaml").read_text())
    spec["name"] = name
    spec.setdefault("image", {})["repository"] = f"models/{name.replace('_', '-')}"
    if change_yaml:
        change_yaml(spec)
    (folder / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    if change_folder:
        change_folder(folder)
    return folder


def _break_training(folder: Path) -> None:
    train = folder / "src" / "train.py"
    train.write_text("import sys\nsys.exit('synthetic failure: the training step could not fit the model')\n")


def _wrong_expected(folder: Path) -> None:
    import json

    path = folder / "model" / "expected-response.json"
    expected = json.loads(path.read_text())
    expected["predictions"] = [99 for _ in expected["predictions"]]
    path.write_text(json.dumps(expected))


def _impossible_gate(spec: dict) -> None:
    spec["gate"]["metrics"]["f1_macro"]["min"] = 1.5


def _short_training_timeout(spec: dict) -> None:
    spec["training"] = {"timeout_seconds": 1}


def _impatient_approval(spec: dict) -> None:
    spec["approval"] = {"timeout_hours": IMPATIENT_APPROVAL_HOURS}


def _tiny_latency_budget(spec: dict) -> None:
    spec["edge"] = {"poll_seconds": 1, "timeout_seconds": 300, "max_p95_ms": 0.001}


def _serving_drift(folder: Path) -> None:
    """The image would install another scikit-learn than the one the model trains with."""
    kit = ROOT / "modelkit" / "environments" / "sklearn" / "requirements.txt"
    pins = kit.read_text().replace("scikit-learn==1.9.1", "scikit-learn==1.6.1")
    (folder / "model" / "requirements.txt").write_text(pins)


VARIANTS: dict[str, dict] = {
    "wine_broken_train": {"change_folder": _break_training},
    "wine_strict_gate": {"change_yaml": _impossible_gate},
    "wine_bad_expected": {"change_folder": _wrong_expected},
    "wine_slow_training": {"change_yaml": _short_training_timeout},
    "wine_edge_too_slow": {"change_yaml": _tiny_latency_budget},
    "wine_impatient_approval": {"change_yaml": _impatient_approval},
    "wine_serving_drift": {"change_folder": _serving_drift},
    "wine_copy": {},
    "wine_card": {},
    "wine_beside_broken": {},  # takes the bad uploads, so no other model's latest upload is a bad one
}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    base = tmp_path_factory.mktemp("factory")
    models = base / "models"
    models.mkdir()
    place_kit_beside(models)
    for name in sorted(p.parent.name for p in (ROOT / "models").glob("*/model.yaml")):
        shutil.copytree(ROOT / "models" / name, models / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name, changes in VARIANTS.items():
        make_variant(models, name, **changes)
    (models / BROKEN_MODEL).mkdir()  # a broken folder: reported and skipped, the others run
    (models / BROKEN_MODEL / "model.yaml").write_text(f"name: {BROKEN_MODEL}\ntask: [unclosed\n")
    ports = StackPorts.free()
    # amd64 images and the amd64 device only: the ~20 runs here would spend most of CI's time verifying and
    # smoke-testing arm64 under emulation; the arm64 path has its own slow tests (tests/packaging/test_layers.py,
    # tests/edge/test_update_layers.py, tests/edge/test_edge_real_model.py), and `make run` builds and tests both
    # architectures.
    # the local fleet the models declaring rollout: go to (vibration_anomaly): four amd64 devices, as the images are
    # amd64 only here; `make run`'s fleet has an arm64 device (tests/edge/test_local_fleet.py runs one too)
    local = LocalStack(base / "state", ports, extra_env={
        "FACTORY_MODELS_DIR": str(models), "APPROVAL_TIMEOUT_SECONDS": str(APPROVAL_TIMEOUT_S),
        "FACTORY_IMAGE_ARCHES": "amd64", "FACTORY_EDGE_DEVICES": f"sim-amd64=amd64@http://127.0.0.1:{ports.edge}"},
        fleet=fleet_devices(4, arm64=0))
    local.models_dir = models  # type: ignore[attr-defined]
    try:
        local.up()
        yield local
    finally:
        local.down()


@pytest.fixture(scope="session")
def client(stack: LocalStack) -> FactoryClient:
    return FactoryClient(stack.base_url, stack.function_key)


@pytest.fixture(scope="session")
def every_model_run(stack: LocalStack, client: FactoryClient) -> dict[str, tuple[str, dict[str, Any], int]]:
    """The one end-to-end run of every repository model, shared by the tests that read its results: each model's
    sample uploaded at once (beside the broken folder), each approved through its signed link; per model the run
    id, the ended run and the approval's HTTP status."""
    runs = {model: stack.upload(model, sample(stack, model))[2] for model in REPOSITORY_MODELS}
    with ThreadPoolExecutor(len(runs)) as pool:
        statuses = dict(zip(runs, pool.map(lambda r: approve(client, r, timeout=ALL_MODELS_TIMEOUT_S), runs.values()),
                            strict=True))
    ended = {model: (run_id, client.wait(run_id, timeout=ALL_MODELS_TIMEOUT_S), statuses[model])
             for model, run_id in runs.items()}
    # the fleet served only this run's rollout (no later e2e test runs a model that declares one): its devices'
    # reports stay in the fleet's file for the happy path to read, and its containers (model, reporter, sample
    # traffic) stop taking CPU for the rest of the session
    stack.remove_fleet()
    return ended


@pytest.fixture(scope="session")
def wine_copy_triple_run(stack: LocalStack, client: FactoryClient) -> tuple[str, dict[str, Any], int, str]:
    """wine_copy's one upload, its BlobCreated event published three more times at once, approved with the CLI:
    (run id, the ended run, the CLI's exit code, what it printed). Shared by the at-least-once test and by
    ``run --changed`` (which retrains on the model's latest upload, so it needs this good one)."""
    from cli import main as cli
    from factory import events

    model = "wine_copy"
    url, etag, run_id = stack.upload(model, sample(stack, model), name="triple.csv")
    event = events.blob_created("devstoreaccount1", "incoming", f"{model}/triple.csv", url, etag, 100)
    endpoint = stack.settings_env()["FACTORY_EVENTGRID_ENDPOINT"]
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: events.publish([event], endpoint, key=stack.eventgrid_key), range(3)))
    approval_links(client, run_id)  # waits until the run asks for approval; then decide with the CLI
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = cli.main(["approve", "--state-dir", str(stack.state_dir), run_id])
    return run_id, client.wait(run_id, timeout=900), code, printed.getvalue()
