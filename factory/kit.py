"""The model kit (``modelkit/``): what every model shares, kept once and versioned with the factory.

- ``modelkit/stages/``: the shared stage programs and helpers (``register.py``, ``score.py``, ``artifact.py``);
  a model's components reach them through ``additional_includes`` (Azure ML copies each include into the
  component's code snapshot; the local runner does the same, ``snapshot``).
- ``modelkit/components/``: the kit's own components (``verify_data``, ``score``, ``register``), used by the
  standard pipeline (every pipeline starts with ``verify_data``: it checks the pinned data's sha256).
- ``modelkit/pipeline.py``: the standard pipeline wiring; a model's ``mlops/pipeline.py`` replaces it.
- ``modelkit/serving/``: the serving entry script (``score.py``) and the ``Dockerfile`` template.
- ``modelkit/environments/<name>/``: named environments: ``conda.yml`` (training, Azure ML and local) and
  ``requirements.txt`` (the serving image's dependency set). A model picks one with ``environment:`` in its
  model.yaml (default ``sklearn``); an environment may carry its own ``score.py`` / ``Dockerfile``.

A model overrides any shared file by adding its own: ``model/<file>`` for the serving side (``serving_file``
looks there first), ``src/<file>`` for a stage file (the standard pipeline leaves that include out, as Azure
ML refuses an include that collides with a file of the code folder), ``mlops/components/<stage>.yml`` for a
kit component and ``mlops/pipeline.py`` for the wiring.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from factory.fields import as_dict, as_list

if TYPE_CHECKING:
    from azure.ai.ml.entities import Component

KIT = Path(__file__).resolve().parent.parent / "modelkit"
STAGES = KIT / "stages"
COMPONENTS = KIT / "components"
ENVIRONMENTS = KIT / "environments"
SERVING = KIT / "serving"
STANDARD_PIPELINE = KIT / "pipeline.py"
DEFAULT_ENVIRONMENT = "sklearn"
KIT_STAGES = ("verify_data", "score", "register")  # the stages whose component the kit provides
SERVING_OPTIONS = "serving.json"  # in the image's model folder: model.yaml's serving options the scoring script reads
SKIP = ("__pycache__", ".ipynb_checkpoints", ".pytest_cache")


class KitError(ValueError):
    """A kit file, environment or include cannot be resolved; the message names the file and what to do."""


def environment_of(model_folder: Path) -> str:
    """The kit environment a model declares (``environment:`` in its model.yaml; default ``sklearn``)."""
    file = Path(model_folder) / "model.yaml"
    try:
        raw: Any = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        raw = None
    name = as_dict(raw).get("environment", DEFAULT_ENVIRONMENT)
    return name if isinstance(name, str) and name else DEFAULT_ENVIRONMENT


def environment_dir(name: str) -> Path:
    """``modelkit/environments/<name>/``; ``KitError`` listing the known ones when it does not exist."""
    folder = ENVIRONMENTS / name
    if "/" in name or name.startswith(".") or not (folder / "conda.yml").is_file():
        known = ", ".join(sorted(p.name for p in ENVIRONMENTS.iterdir() if (p / "conda.yml").is_file()))
        raise KitError(f"environment {name!r}: no {folder}/conda.yml; the kit's environments are {known}")
    return folder


def serving_options(model_folder: Path) -> dict[str, Any]:
    """What model.yaml's ``serving`` section tells the scoring script (``{"probabilities": true}``); empty when it
    declares nothing for it. The packaging context writes it to the image's ``model/serving.json``."""
    try:
        raw: Any = yaml.safe_load((Path(model_folder) / "model.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return {"probabilities": True} if as_dict(as_dict(raw).get("serving")).get("probabilities") is True else {}


def serving_file(model_folder: Path, name: str) -> Path | None:
    """Where a serving file comes from: the model's ``model/<name>``, else its kit environment's, else
    ``modelkit/serving/<name>`` (the serving dependency set ``requirements.txt`` lives in the environment)."""
    model_folder = Path(model_folder)
    env = ENVIRONMENTS / environment_of(model_folder)
    for candidate in (model_folder / "model" / name, env / name, SERVING / name):
        if candidate.is_file():
            return candidate
    return None


def overridden(model_folder: Path, include: Path) -> bool:
    """The model's ``src/`` holds its own file (or folder) of the include's name: the model's wins."""
    return (Path(model_folder) / "src" / include.name).exists()


def _ignored(name: str) -> bool:
    return name in SKIP or name.endswith(".pyc")


def _copy_tree(src: Path, dst: Path) -> None:
    if src.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        return
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not _ignored(d))
        target = dst / Path(root).relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        for file in sorted(files):
            if not _ignored(file):
                shutil.copy2(Path(root) / file, target / file)


def include_conflicts(code_dir: Path | None, includes: list[Path]) -> list[str]:
    """What Azure ML refuses about a component's ``additional_includes``: a missing include, or an include
    whose name collides with a file of the code folder (``A file already exists for additional include``)."""
    problems: list[str] = []
    for include in includes:
        if not include.exists():
            problems.append(f"additional include {include} does not exist")
        elif code_dir is not None and (code_dir / include.name).exists():
            problems.append(f"additional include {include}: {code_dir / include.name} already exists (a file of "
                            "the code folder); remove the include to use the code folder's own file")
    return problems


def snapshot(code_dir: Path | None, includes: list[Path], dest: Path) -> Path:
    """A component's code snapshot as Azure ML makes it: the code folder's files, then each additional
    include (a file or a folder) copied by its name to the snapshot's top level. ``dest`` must not exist."""
    problems = include_conflicts(code_dir, includes)
    if problems:
        raise KitError("; ".join(problems))
    dest.mkdir(parents=True)
    if code_dir is not None:
        _copy_tree(code_dir, dest)
    for include in includes:
        _copy_tree(include, dest / include.name)
    return dest


def stage_snapshot(model_folder: Path, dest: Path) -> Path:
    """A model's ``src/`` with every kit stage file it does not override: the files its steps see (the
    model's own tests and notebooks run the stages from here, as the pipeline does)."""
    kit_files = [p for p in sorted(STAGES.iterdir()) if p.suffix == ".py" and not overridden(model_folder, p)]
    return snapshot(Path(model_folder) / "src", kit_files, dest)


def stage_component(model_folder: Path, stage: str, model_name: str | None = None) -> Component:
    """The component of one stage for a model: its own ``mlops/components/<stage>.yml``, else (for the kit's
    stages) ``modelkit/components/<stage>.yml`` named ``<model>_<stage>``, with the model's ``src/`` as code,
    the kit includes the model does not override, and the model's kit environment (model.yaml ``environment:``)."""
    from azure.ai.ml import load_component  # pyright: ignore[reportUnknownVariableType] (the SDK's own hints)

    model_folder = Path(model_folder).resolve()
    own = model_folder / "mlops" / "components" / f"{stage}.yml"
    if own.is_file():
        return load_component(source=own)
    kit = COMPONENTS / f"{stage}.yml"
    if not kit.is_file():
        raise KitError(f"{own}: missing; the kit provides components for {', '.join(KIT_STAGES)} only")
    raw = as_dict(yaml.safe_load(kit.read_text(encoding="utf-8")))
    includes = [str(i) for i in as_list(raw.get("additional_includes"))
                if not overridden(model_folder, COMPONENTS / str(i))]
    override: dict[str, object] = {"name": f"{model_name or model_folder.name}_{stage}",
                                   "code": str(model_folder / "src"), "additional_includes": includes}
    environment = environment_of(model_folder)
    if environment != DEFAULT_ENVIRONMENT:  # the kit's stage runs in the environment the model declares
        override["environment"] = {**as_dict(raw.get("environment")),
                                   "conda_file": str(environment_dir(environment) / "conda.yml")}
    return load_component(source=kit, params_override=[override])


def place_kit_beside(models_dir: Path) -> Path:
    """Make ``<models_dir>/../modelkit`` the kit (a symlink), for a models folder outside the repository: the
    components reach the kit by a relative path (``../../../../modelkit``), as Azure ML resolves them."""
    link = Path(models_dir).resolve().parent / "modelkit"
    if not link.exists():
        link.symlink_to(KIT, target_is_directory=True)
    return link


def run_stage(model_folder: Path, program: str, *args: object, env: dict[str, str] | None = None,
              python: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run one stage program (``prep``, ``train``, ``score``, ...) of a model as its pipeline step would: from
    a snapshot of its ``src/`` plus the kit files it does not override (the model's tests use this)."""
    with tempfile.TemporaryDirectory(prefix="modelkit-stage-") as tmp:
        code = stage_snapshot(model_folder, Path(tmp) / "code")
        return subprocess.run([python or sys.executable, f"{program}.py", *map(str, args)], cwd=code, env=env,
                              capture_output=True, text=True, timeout=timeout, check=False)


def training_conda_file(model_folder: Path) -> Path:
    """The conda file the model trains in: its ``train`` component's ``environment.conda_file``, else its kit
    environment's ``conda.yml``."""
    model_folder = Path(model_folder)
    train = model_folder / "mlops" / "components" / "train.yml"
    try:
        raw = yaml.safe_load(train.read_text(encoding="utf-8"))
        conda = as_dict(as_dict(raw).get("environment")).get("conda_file")
    except (OSError, yaml.YAMLError):
        conda = None
    if isinstance(conda, str):
        return (train.parent / conda).resolve()
    return environment_dir(environment_of(model_folder)) / "conda.yml"


def dependency_drift(model_folder: Path) -> list[str]:
    """Each package whose training version (the train component's conda file) and serving version (the image's
    requirements.txt) differ; empty when they agree. The gate fails a run on any."""
    from factory.environments import serving_mismatches

    serving = serving_file(model_folder, "requirements.txt")
    if serving is None:
        return [f"{Path(model_folder) / 'model' / 'requirements.txt'}: missing, and the kit has none"]
    return serving_mismatches(training_conda_file(model_folder), serving)
