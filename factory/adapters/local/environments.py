"""Local environments: each component runs in the environment it declares, as on Azure ML.

Azure ML builds one image per environment (base image + conda file) and reuses it; here each conda file
becomes a virtualenv under ``FACTORY_ENV_DIR`` (default ``<repo>/.factory/envs``), keyed by the hash of its
python version and requirements (``factory.environments.EnvSpec.digest``), built once under a file lock and
reused by every run. The venv is layered on the factory's own packages, as an Azure ML conda environment is
layered on its base image: every requirement the file declares is installed in the venv (with pip, from the
configured indexes and local wheels) and shadows the factory's copy, so a pinned version is the version the
step imports; what the file does not name comes from the layer below. A curated or registered environment
(``azureml:...``) cannot be built here: ``EnvironmentUnavailable`` says how to declare it instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from factory.adapters.local.host import file_lock
from factory.adapters.local.pipeline_plan import PipelineError
from factory.environments import EnvironmentSpecError, EnvSpec, load_conda, parse_conda

REPO = Path(__file__).resolve().parents[3]
READY = ".ready"
BUILD_TIMEOUT_SECONDS = 1800


class EnvironmentUnavailable(PipelineError):
    """A step's environment cannot be made on this machine; the message names the component and the fix."""


def env_root(environ: dict[str, str] | None = None) -> Path:
    """Where built environments live: ``FACTORY_ENV_DIR``, else ``<repo>/.factory/envs`` (shared by all runs)."""
    value = (environ if environ is not None else os.environ).get("FACTORY_ENV_DIR", "")
    return Path(value).resolve() if value else REPO / ".factory" / "envs"


def this_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def spec_for(environment: dict[str, Any], where: str) -> EnvSpec:
    """The conda spec of a step's environment; ``EnvironmentUnavailable`` for one the runner cannot build."""
    if "reference" in environment:
        name = environment["reference"]
        raise EnvironmentUnavailable(
            f"{where}: environment {name!r} is a curated or registered Azure ML environment; the local runner "
            "builds environments from their conda files and cannot rebuild this one. Fix: declare it in the "
            "component as `environment: {image: <base image>, conda_file: <conda.yml>}` with the packages the step "
            "needs, e.g. conda_file: ../../../../modelkit/environments/sklearn/conda.yml")
    try:
        conda = environment.get("conda")
        file = Path(environment["conda_file"])
        spec = parse_conda(conda, file) if conda is not None else load_conda(file)
    except EnvironmentSpecError as exc:
        raise EnvironmentUnavailable(f"{where}: {exc}") from None
    if spec.python and spec.python != this_python():
        raise EnvironmentUnavailable(
            f"{where}: {spec.file} asks for python={spec.python}; the local runner builds environments on this "
            f"machine's Python {this_python()}. Fix: pin python={this_python()} (the serving image's Python too)")
    return spec


def _base_site_packages() -> str:
    return sysconfig.get_paths()["purelib"]


def build(spec: EnvSpec, root: Path, log: Path | None = None) -> tuple[Path, bool]:
    """The python of the built environment for ``spec`` (building it if needed) and whether it was built now."""
    folder = root / spec.digest
    python = folder / "bin" / "python"
    if (folder / READY).is_file():
        return python, False
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / f".{spec.digest}.lock", blocking=True):
        if (folder / READY).is_file():  # another run built it while this one waited
            return python, False
        shutil.rmtree(folder, ignore_errors=True)  # a build that died half-way
        build_log = log or root / f"{spec.digest}.log"
        with build_log.open("a", encoding="utf-8") as out:
            out.write(f"# environment {spec.digest} from {spec.file}: {', '.join(spec.requirements)}\n")
            out.flush()
            _run([sys.executable, "-m", "venv", "--without-pip", str(folder)], out)
            site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                                 "['purelib'])"], text=True).strip())
            # the layer below: the factory's packages, after the venv's own (site.addsitedir also runs their .pth)
            (site / "_factory_layer.pth").write_text(f"import site; site.addsitedir({_base_site_packages()!r})\n")
            if spec.requirements:
                _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--disable-pip-version-check",
                      "-q", *spec.requirements], out)
        (folder / "spec.txt").write_text("\n".join(spec.requirements) + "\n", encoding="utf-8")
        (folder / READY).write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), encoding="utf-8")
    return python, True


def _run(argv: list[str], out: Any) -> None:
    out.write("$ " + " ".join(argv) + "\n")
    out.flush()
    code = subprocess.call(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           timeout=BUILD_TIMEOUT_SECONDS)
    if code != 0:
        out.flush()
        tail = "\n".join(Path(out.name).read_text(encoding="utf-8", errors="replace").splitlines()[-15:])
        raise EnvironmentUnavailable(f"building the environment failed ({argv[2]} exited {code}); "
                                     f"log {out.name}:\n{tail}")


def python_for(environment: dict[str, Any], where: str, root: Path) -> tuple[str, str]:
    """The interpreter a step runs with, and a line for its log (which environment, built now or reused)."""
    spec = spec_for(environment, where)
    started = time.perf_counter()
    python, built = build(spec, root)
    how = f"built in {time.perf_counter() - started:.1f} s" if built else "reused"
    return str(python), f"# environment {spec.digest} ({spec.file}; {how})"
