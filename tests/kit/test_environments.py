"""Each component runs in the environment it declares: a venv per conda file, built once, reused.

The two tests that train in a built environment are ``slow`` (pip installs; 15 and 24 s of the fast suite, which
was at its 5-minute budget); the refusals and the pin comparison stay fast."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from contract import GateRequest
from factory import gate
from factory.adapters.local.environments import EnvironmentUnavailable, spec_for
from factory.adapters.local.pipeline_plan import load_plan
from factory.adapters.local.pipeline_runner import run_pipeline
from factory.backends import Services
from factory.catalog import load_model_spec
from factory.environments import EnvironmentSpecError, load_conda, mismatches, read_requirements
from factory.kit import KIT, dependency_drift, place_kit_beside
from factory.ports import TrainingRequest
from factory.settings import Settings
from factory.steps import RunSteps

REPO = Path(__file__).resolve().parents[2]
OLD_SKLEARN = "1.6.1"


def _copy(models: Path, name: str) -> Path:
    place_kit_beside(models)
    dest = models / name
    shutil.copytree(REPO / "models" / "wine_cultivar", dest, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    spec = yaml.safe_load((dest / "model.yaml").read_text())
    spec["name"] = name
    (dest / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return dest


def _set_environment(component: Path, environment: object) -> None:
    raw = yaml.safe_load(component.read_text())
    raw["environment"] = environment
    component.write_text(yaml.safe_dump(raw, sort_keys=False))


@pytest.mark.slow
def test_a_component_pinning_an_old_scikit_learn_trains_in_that_version(tmp_path):
    folder = _copy(tmp_path / "models", "wine_old")
    (folder / "mlops" / "environment").mkdir()
    (folder / "mlops" / "environment" / "old.yml").write_text(
        f"name: old-sklearn\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n      - scikit-learn=={OLD_SKLEARN}\n")
    _set_environment(folder / "mlops" / "components" / "train.yml",
                     {"image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest",
                      "conda_file": "../environment/old.yml"})
    train = folder / "src" / "train.py"  # the step itself says which scikit-learn it imported
    report = "\nimport sklearn as _s\n\nprint('train: trained with scikit-learn', _s.__version__)\n"
    train.write_text(train.read_text() + report)
    spec = load_model_spec(folder)
    request = TrainingRequest(model="wine_old", run_id="old-1", data_uri=str(folder / "data" / "wine.csv"))
    result = run_pipeline(spec, request, tmp_path / "run", tmp_path / "state")
    card = json.loads((tmp_path / "run" / "steps" / "train" / "model" / "model.json").read_text())
    assert card["sklearn_version"] == OLD_SKLEARN  # written by train.py from sklearn.__version__
    log = (tmp_path / "run" / "logs" / "train.log").read_text()
    assert f"train: trained with scikit-learn {OLD_SKLEARN}" in log
    evaluate_log = (tmp_path / "run" / "logs" / "evaluate.log").read_text()
    assert evaluate_log.split("\n")[0] != log.split("\n")[0]  # another environment for the other steps
    # and the serving image would install another version: the gate names the package
    (drift,) = dependency_drift(folder)
    assert drift.startswith("package scikit-learn: training environment") and f"=={OLD_SKLEARN}" in drift
    # the run stops at the gate: its metrics pass the model's rules, the version mismatch fails the verdict
    assert gate.evaluate(result.metrics, spec.gate).passed
    steps = RunSteps(Services(Settings.from_env({"FACTORY_MODELS_DIR": str(tmp_path / "models"),
                                                 "FACTORY_STATE_DIR": str(tmp_path / "state")})))
    verdict = steps.evaluate_gate(GateRequest(model="wine_old", version=result.registered.version))
    assert not verdict.passed and verdict.reasons == [drift]


@pytest.mark.slow
def test_a_second_run_reuses_the_built_environment(tmp_path):
    folder = _copy(tmp_path / "models", "wine_twice")
    spec = load_model_spec(folder)
    for run in ("a", "b"):
        request = TrainingRequest(model="wine_twice", run_id=run, data_uri=str(folder / "data" / "wine.csv"))
        run_pipeline(spec, request, tmp_path / run, tmp_path / "state")
    assert "; reused)" in (tmp_path / "b" / "logs" / "prep.log").read_text().split("\n")[0]


def test_a_curated_environment_is_a_clear_error_with_the_fix(tmp_path):
    folder = _copy(tmp_path / "models", "wine_curated")
    _set_environment(folder / "mlops" / "components" / "train.yml",
                     "azureml:AzureML-sklearn-0.24-ubuntu18.04-py37-cpu@latest")
    spec = load_model_spec(folder)
    train = next(s for s in load_plan(spec).steps if s.name == "train")
    with pytest.raises(EnvironmentUnavailable, match=r"train.yml: step train: environment '(azureml:)?AzureML-sklearn"
                       r".*curated or registered.*Fix: declare it in the component as `environment: \{image"):
        spec_for(train.environment, f"{train.component_file}: step train")
    request = TrainingRequest(model="wine_curated", run_id="c-1", data_uri=str(folder / "data" / "wine.csv"))
    with pytest.raises(EnvironmentUnavailable, match="curated"):
        run_pipeline(spec, request, tmp_path / "run", tmp_path / "state")
    assert "curated" in (tmp_path / "run" / "logs" / "train.log").read_text()


def test_a_conda_file_asking_for_another_python_is_refused_with_the_fix(tmp_path):
    conda = tmp_path / "py37.yml"
    conda.write_text("dependencies:\n  - python=3.7\n  - scikit-learn=0.24.2\n")
    with pytest.raises(EnvironmentUnavailable, match=r"asks for python=3.7.*Fix: pin python=3.11"):
        spec_for({"conda_file": str(conda)}, "train.yml: step train")
    assert load_conda(conda).requirements == ("scikit-learn==0.24.2",)
    conda.write_text("dependencies: {pip: nope}\n")
    with pytest.raises(EnvironmentSpecError, match="field dependencies"):
        load_conda(conda)


def test_training_and_serving_pins_are_compared_per_package():
    sklearn_env = KIT / "environments" / "sklearn"
    assert mismatches(load_conda(sklearn_env / "conda.yml").requirements,
                      read_requirements(sklearn_env / "requirements.txt")) == []
    assert mismatches(("scikit-learn==1.9.1", "joblib>=1.4", "pandas"), ("scikit_learn==1.6.1", "joblib==1.3.0")) == [
        ("joblib", ">=1.4", "==1.3.0"), ("scikit-learn", "==1.9.1", "==1.6.1")]
    assert dependency_drift(REPO / "models" / "wine_cultivar") == []
