"""``model-factory check [NAME...]``: a model folder checked before anything runs, each problem with its file
and field.

What is checked, in order (a later check needs the earlier ones): ``model.yaml`` against its published
JSON Schema (``modelkit/schema/model.schema.json``) and the catalog's rules; every component YAML loads with
azure-ai-ml; the pipeline builds and validates offline; the register contract is wired (the pipeline's
``model``, ``metrics`` and ``registration`` outputs, the register step's lineage inputs); every step's
environment resolves (no curated one, the local Python) and the serving dependency set agrees with the
training environment; the sample upload passes the data rules; the sample request and expected response
exist and match the serving contract (``factory.model_contract``: the request's rows against ``serving.inputs``,
the expected response's shape against the task, one prediction per row); every gated metric is one the
evaluate step declares it writes (``evaluate.metrics``).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import yaml

from factory.model_contract import Problem, metric_problems, request_problems, response_problems

SCHEMA = Path(__file__).resolve().parents[2] / "modelkit" / "schema" / "model.schema.json"
LINEAGE_INPUTS = ("model_name", "run_id", "data_uri", "data_etag", "source_commit")
PIPELINE_OUTPUTS = ("model", "metrics", "registration")


def schema_problems(file: Path, raw: Any) -> list[Problem]:
    """``model.yaml`` against the JSON Schema: one problem per violation, at its dotted field path."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    found = []
    for error in sorted(validator.iter_errors(raw), key=lambda e: [str(p) for p in e.absolute_path]):
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        found.append(Problem(file, where, f"{error.message} (schema: {SCHEMA.name})"))
    return found


def _yaml(file: Path) -> tuple[Any, list[Problem]]:
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8")), []
    except FileNotFoundError:
        return None, [Problem(file, "", "no such file; every model folder needs a model.yaml")]
    except yaml.YAMLError as exc:
        return None, [Problem(file, "", f"not valid YAML: {exc}")]


def _spec(folder: Path) -> tuple[Any, list[Problem]]:
    from factory.catalog import CatalogError, load_model_spec

    file = folder / "model.yaml"
    raw, problems = _yaml(file)
    if problems:
        return None, problems
    problems = schema_problems(file, raw)
    try:
        return load_model_spec(folder), problems
    except CatalogError as exc:
        text = str(exc).removeprefix(f"{file}: ")
        field, _, message = text.partition(": ") if text.startswith("field ") else ("", "", text)
        return None, [*problems, Problem(file, field.removeprefix("field "), message or text)]


def _components(folder: Path) -> list[Problem]:
    from azure.ai.ml import load_component

    problems = []
    for file in sorted((folder / "mlops" / "components").glob("*.yml")):
        try:
            component = load_component(source=file)
        except Exception as exc:  # noqa: BLE001 - azure-ai-ml raises many kinds; each is reported with its file
            problems.append(Problem(file, "", f"does not load as an Azure ML component: {exc}"))
            continue
        result = component._validate()
        details: Any = getattr(result, "error_messages_details", None)  # newer azure-ai-ml only
        problems += [Problem(file, d.yaml_path or "", d.message) for d in details()] if details else \
            [Problem(file, k, v) for k, v in (result.error_messages or {}).items()]
    return problems


def _pipeline(spec: Any) -> tuple[Any, list[Problem]]:
    from factory.adapters.local.pipeline_plan import PipelineError, load_plan
    from factory.catalog import CatalogError

    where = spec.pipeline_file if spec.pipeline_file.is_file() else spec.folder / "mlops"
    try:
        plan = load_plan(spec)
    except (PipelineError, CatalogError) as exc:
        return None, [Problem(where, "", str(exc))]
    except Exception as exc:  # noqa: BLE001 - building runs the model's own pipeline code
        return None, [Problem(where, "", f"the pipeline does not build: {type(exc).__name__}: {exc}")]
    problems = [Problem(where, "outputs", f"the training pipeline must return an output named {name!r}")
                for name in PIPELINE_OUTPUTS if name not in plan.outputs]
    readers = [s for s in plan.steps if "${{parent.inputs.data}}" in s.inputs.values()]
    if not readers or any(s.inputs.get("sha256") != "${{parent.inputs.data_sha256}}" for s in readers):
        problems.append(Problem(where, "data", "only the kit's verify_data step may read the pipeline's data "
                                "(data=data, sha256=data_sha256); the other steps read its verified output"))
    register = plan.outputs.get("registration", "").split(".")[0]
    step = next((s for s in plan.steps if s.name == register), None)
    if step is not None:
        file = Path(step.component_file)
        for name in LINEAGE_INPUTS:
            if step.inputs.get(name) != f"${{{{parent.inputs.{name}}}}}":
                problems.append(Problem(file, f"inputs.{name}", "the register step must take the pipeline input "
                                        f"{name} (the version's lineage tags); bind {name}={name}"))
        for name in ("model", "metrics", "scores"):
            if name not in step.inputs:
                problems.append(Problem(file, f"inputs.{name}", f"the register step needs the {name} input"))
    return plan, problems


def _environments(spec: Any, plan: Any) -> list[Problem]:
    from factory.adapters.local.environments import EnvironmentUnavailable, spec_for
    from factory.kit import KitError, dependency_drift

    problems = []
    for step in plan.steps:
        try:
            spec_for(step.environment, f"step {step.name}")
        except EnvironmentUnavailable as exc:
            problems.append(Problem(Path(step.component_file), "environment", str(exc)))
    try:
        problems += [Problem(spec.folder / "model", "requirements.txt", d) for d in dependency_drift(spec.folder)]
    except (KitError, ValueError) as exc:
        problems.append(Problem(spec.folder, "environment", str(exc)))
    return problems


RUNTIMES = {"joblib": "joblib", "onnx": "onnxruntime"}  # artifact.format -> what the serving image must install


def _runtime(spec: Any) -> list[Problem]:
    """The serving dependency set installs what loads the artifact's format (an ONNX model in the sklearn set's
    image could not start)."""
    from factory.environments import read_requirements
    from factory.kit import serving_file

    needed = RUNTIMES.get(spec.artifact.format)
    serving = serving_file(spec.folder, "requirements.txt")
    if needed is None or serving is None:
        return []
    try:
        names = {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() for r in read_requirements(serving)}
    except ValueError as exc:  # a malformed requirements file
        return [Problem(serving, "", str(exc))]
    if needed in names:
        return []
    return [Problem(spec.folder / "model.yaml", "environment",
                    f"artifact.format {spec.artifact.format} is served with {needed}, which {serving} does not "
                    f"install; pick an environment that serves it (e.g. environment: "
                    f"{'onnx' if needed == 'onnxruntime' else 'sklearn'})")]


def _data(spec: Any) -> list[Problem]:
    from factory.validation import validate_csv

    sample = spec.data.sample
    if sample is None or getattr(spec.data, "kind", "table") != "table":  # archives: validated at upload
        return []
    files = sorted(sample.glob("*.csv")) if sample.is_dir() else [sample]
    return [Problem(f, "", str(e)) for f in files for e in validate_csv(f, spec, str(f))][:5]


def _serving(spec: Any) -> list[Problem]:
    from factory.packaging.context import ContextError, scoring_check

    serving = spec.folder / "model"
    missing = [Problem(serving / n, "", "missing; the image is verified with it before it is pushed")
               for n in ("sample-request.json", "expected-response.json") if not (serving / n).is_file()]
    if missing:
        return missing
    try:
        check = scoring_check(spec.folder)
    except ContextError as exc:
        return [Problem(serving, "", str(exc))]
    request, expected = check.request, check.expected
    problems = response_problems(spec, request, expected)
    if getattr(spec.data, "kind", "table") != "table":  # image requests: the model's own serving contract
        return problems
    return request_problems(spec, request) + problems


def check_folder(folder: Path) -> list[Problem]:
    """Every problem of one model folder (empty: it is ready to run)."""
    folder = Path(folder).resolve()
    spec, problems = _spec(folder)
    if spec is None:
        return problems
    problems += _components(folder)
    plan, pipeline_problems = _pipeline(spec)
    problems += pipeline_problems
    if plan is not None:
        problems += _environments(spec, plan)
    return problems + _runtime(spec) + _data(spec) + _serving(spec) + metric_problems(spec)


def register(subparsers: argparse._SubParsersAction) -> None:
    check = subparsers.add_parser("check", help="check model folders before anything runs (file and field)")
    check.add_argument("models", nargs="*", help="model names (default: every folder under --models-dir)")
    check.add_argument("--models-dir", type=Path, default=Path("models"))
    check.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    models_dir = Path(args.models_dir)
    names = args.models or sorted(p.name for p in models_dir.iterdir()
                                  if p.is_dir() and not p.name.startswith((".", "_")))
    failed = 0
    for name in names:
        folder = models_dir / name
        problems = check_folder(folder) if folder.is_dir() else [Problem(folder, "", "no such model folder")]
        if problems:
            failed += 1
            print(f"{name}: {len(problems)} problem(s)")
            for problem in problems:
                print(f"  {problem}")
        else:
            print(f"{name}: ok")
    return 1 if failed else 0
