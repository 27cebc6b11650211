"""``new`` → check → train → build → verify: a scaffolded model's image passes verification (slow: podman).

One tabular template (anomaly) is built: every template's image is the kit's Dockerfile and score.py on the same
bases, and what differs per template (its sample, expected response and training) is checked for each template
by the fast tests (tests/kit/test_new.py, tests/kit/test_inner_loop.py) and, for regression, trained and tried below;
the regression and classification images are built and verified with the repository's nyc_taxi and wine_cultivar
in tests/e2e and test_build_local.py."""

from __future__ import annotations

import pytest

from cli.commands.check import check_folder
from cli.commands.new import scaffold
from factory import ports
from factory.adapters.local.pipeline_runner import run_pipeline
from factory.adapters.local.podman import PodmanImageBuilder
from factory.catalog import load_model_spec
from factory.kit import place_kit_beside
from factory.packaging.context import assemble, model_labels, scoring_check
from factory.ports import TrainingRequest

pytestmark = pytest.mark.slow


def test_a_scaffolded_model_builds_and_verifies(registries, tmp_path):
    task = "anomaly"
    _, dev, _ = registries
    place_kit_beside(tmp_path / "models")
    folder = scaffold(tmp_path / "models", f"fresh_{task}", "table", task)
    assert check_folder(folder) == []
    spec = load_model_spec(folder)
    result = run_pipeline(spec, TrainingRequest(model=spec.name, run_id="r1", data_uri=str(spec.data.sample)),
                          tmp_path / "run", tmp_path / "state")
    context = assemble(folder, tmp_path / "run" / "steps" / "train" / "model", tmp_path / "ctx",
                       model_labels(spec.name, result.registered.version, "r1", "abc123"))
    ref = ports.ImageRef(dev.registry.address, spec.image.repository, "1")
    # amd64 only: a scaffolded tabular model's image is the kit's Dockerfile on the same bases as the tabular
    # models', whose arm64 builds are verified under emulation in tests/edge (test_edge_real_model.py,
    # test_update_layers.py)
    built = PodmanImageBuilder(arches=("amd64",)).build_verify_push(context, ref, scoring_check(folder))
    assert built.digest.startswith("sha256:") and "HEALTHCHECK passed" in built.log_tail


def test_the_regression_scaffold_trains_and_answers_its_sample_as_its_expected_response_says(tmp_path, monkeypatch,
                                                                                               capsys):
    """The regression template's image is not built (its anomaly sibling's is, on the same Dockerfile and
    bases): ``train`` and ``try`` make the comparison its image's verification would make."""
    from cli.main import main

    place_kit_beside(tmp_path / "models")
    monkeypatch.setenv("FACTORY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FACTORY_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["new", "fares", "--task", "regression", "--models-dir", str(tmp_path / "models")]) == 0
    assert main(["train", "fares"]) == 0
    assert "gate: PASSED" in capsys.readouterr().out
    assert main(["try", "fares"]) == 0
    assert "the image's verification would pass" in capsys.readouterr().out
