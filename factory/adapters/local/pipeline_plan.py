"""A model's Azure ML pipeline as a local plan: ordered command steps, read from the same component YAMLs and
``@dsl.pipeline`` graph Azure ML gets.

``load_plan`` builds the pipeline job with ``azure-ai-ml`` (offline) and reads, for each step, what Azure ML
would use: the command, the code folder and its ``additional_includes`` (copied into the step's snapshot,
``factory.kit.snapshot``), the environment (a conda file, or a reference to a registered/curated one), the
declared input and output types, and the bindings from the job's REST form (``${{parent.inputs.x}}``,
``${{parent.jobs.step.outputs.y}}``). ``resolve_command`` turns a step into an argv: ``uri_folder`` outputs are
folders, ``uri_file`` outputs are file paths inside a folder made for them, inputs get the path their producer
wrote. A type the local runner does not support is a ``PipelineError`` naming the step, the port and the type.
``read_registration`` and ``read_output_json`` read what the pipeline's outputs hold once it ran.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contract import Registration
from factory import kit
from factory.fields import CatalogError, Fields, as_dict
from factory.model_spec import ModelSpec
from factory.training_pipeline import build_pipeline_job

PLAN_VERSION = 3
PRIMITIVE_TYPES = ("string", "integer", "number", "boolean")
PATH_TYPES = ("uri_file", "uri_folder")
_REF = re.compile(r"^\$\{\{parent\.(inputs\.(?P<input>\w+)|jobs\.(?P<job>\w+)\.outputs\.(?P<output>\w+))\}\}$")
_PLACEHOLDER = re.compile(r"\$\{\{(inputs|outputs)\.(\w+)\}\}")
_OPTIONAL = re.compile(r"\$\[\[(.*?)\]\]", re.DOTALL)


class PipelineError(RuntimeError):
    """The pipeline could not be loaded or run; the message says which model file, step or input."""


@dataclass(frozen=True)
class Step:
    """One command step of the pipeline, as its component declares it."""

    name: str
    command: str
    code_dir: str
    inputs: dict[str, str]  # input name -> binding: "${{parent...}}" reference or a literal value
    outputs: list[str]
    depends_on: list[str] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)  # additional_includes, absolute
    input_types: dict[str, str] = field(default_factory=dict)
    output_types: dict[str, str] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)  # {"conda_file": path} or {"reference": name}
    component_file: str = ""


@dataclass(frozen=True)
class Plan:
    """The ordered steps of a model's pipeline and where its outputs come from."""

    model: str
    steps: list[Step]
    outputs: dict[str, str]  # pipeline output -> "step.output"

    def to_dict(self) -> dict[str, Any]:
        return {"version": PLAN_VERSION, "model": self.model, "steps": [asdict(s) for s in self.steps],
                "outputs": self.outputs}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(model=data["model"], steps=[Step(**s) for s in data["steps"]], outputs=data["outputs"])


def _plan_hash(spec: ModelSpec) -> str:
    """A key for the plan: where the model lives, its model.yaml (environment, artifact), its mlops/ files,
    the names in its src/ (an override changes the includes) and the kit's pipeline and components."""
    digest = hashlib.sha256(f"{PLAN_VERSION}\0{spec.folder}".encode())
    files = [spec.folder / "model.yaml", *sorted((spec.folder / "mlops").rglob("*")),
             *sorted(kit.COMPONENTS.glob("*.yml")), kit.STANDARD_PIPELINE]
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path).encode() + b"\0" + path.read_bytes())
    if spec.src_dir.is_dir():
        digest.update("\0".join(sorted(p.name for p in spec.src_dir.iterdir())).encode())
    return digest.hexdigest()[:16]


def _order(steps: dict[str, Step]) -> list[Step]:
    """Steps in dependency order (a stable topological sort: ties keep the pipeline's own order)."""
    ordered: list[Step] = []
    done: set[str] = set()
    pending = list(steps)
    while pending:
        ready = [name for name in pending if all(dep in done for dep in steps[name].depends_on)]
        if not ready:
            raise PipelineError(f"the pipeline's steps depend on each other in a cycle: {', '.join(pending)}")
        ordered.append(steps[ready[0]])
        done.add(ready[0])
        pending.remove(ready[0])
    return ordered


def _environment(component: Any, where: str) -> dict[str, Any]:
    """The step's environment: its conda file (path and content) and image, or the name it refers to."""
    env = component.environment
    if env is None:
        raise PipelineError(f"{where}: no environment; name a conda file (environment.conda_file)")
    if isinstance(env, str):
        return {"reference": env}
    conda = getattr(env, "conda_file", None)
    if not isinstance(conda, dict):
        name = f"{env.name}:{env.version}" if getattr(env, "name", None) else str(env)
        return {"reference": name, "image": getattr(env, "image", None) or ""}
    path = getattr(env, "conda_file_path", None)
    if path is None:  # a node of a built pipeline keeps the content only: find the file it came from
        path = _kit_conda_path(conda) or _conda_path(where)
    return {"conda": conda, "conda_file": str(path or where), "image": env.image or ""}


def _kit_conda_path(conda: dict[str, Any]) -> Path | None:
    """The kit environment's conda file with this content (a kit stage runs in the model's environment)."""
    for file in sorted(kit.ENVIRONMENTS.glob("*/conda.yml")):
        try:
            if yaml.safe_load(file.read_text(encoding="utf-8")) == conda:
                return file
        except (OSError, yaml.YAMLError):
            continue
    return None


def _conda_path(component_file: str) -> Path | None:
    try:
        raw = yaml.safe_load(Path(component_file).read_text(encoding="utf-8"))
        return (Path(component_file).parent / raw["environment"]["conda_file"]).resolve()
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return None


def _types(ports: dict[str, Any], step: str, kind: str, where: str, allowed: tuple[str, ...]) -> dict[str, str]:
    types: dict[str, str] = {}
    for name, port in ports.items():
        declared = str(getattr(port, "type", "") or "")
        if declared not in allowed:
            raise PipelineError(f"{where}: step {step}, {kind} {name}: type {declared or '(none)'} is not supported "
                                f"by the local runner; use one of {', '.join(allowed)}")
        types[name] = declared
    return types


def _step(name: str, node: Any, rest: dict[str, Any], spec: ModelSpec) -> Step:
    component = node.component
    where = getattr(component, "_source_path", None) or str(spec.pipeline_file)
    if getattr(component, "type", "") != "command" or not getattr(component, "command", None):
        raise PipelineError(f"{where}: step {name} is not a command component")
    base = Path(component._base_path)
    code = (base / component.code).resolve() if component.code else None
    includes = [(base / i).resolve() for i in (component.additional_includes or [])]
    problems = kit.include_conflicts(code, includes)
    if problems:
        raise PipelineError(f"{where}: step {name}: " + "; ".join(problems))
    bindings = {k: str(v.get("value", "")) for k, v in rest["jobs"][name].get("inputs", {}).items()}
    depends = sorted({m["job"] for b in bindings.values() if (m := _REF.match(b)) and m["job"]})
    return Step(name=name, command=component.command, code_dir=str(code or base), inputs=bindings,
                outputs=list(component.outputs), depends_on=depends, includes=[str(i) for i in includes],
                input_types=_types(component.inputs, name, "input", where, PATH_TYPES + PRIMITIVE_TYPES),
                output_types=_types(component.outputs, name, "output", where, PATH_TYPES),
                environment=_environment(component, where), component_file=str(where))


def load_plan(spec: ModelSpec, cache_dir: Path | None = None) -> Plan:
    """The model's pipeline as ordered steps, loaded with ``azure-ai-ml``. With ``cache_dir``, the plan is
    kept as JSON keyed by ``_plan_hash``: a change to the model's mlops/ or the kit reloads it."""
    cached = cache_dir / f"{spec.name}-{_plan_hash(spec)}.json" if cache_dir else None
    if cached and cached.is_file():
        return Plan.from_dict(json.loads(cached.read_text(encoding="utf-8")))
    from azure.ai.ml import Input

    job = build_pipeline_job(spec, Input(type="uri_file", path="placeholder.csv"), "placeholder")
    rest = job._to_rest_object().as_dict()["properties"]
    steps: dict[str, Step] = {}
    outputs: dict[str, str] = {}
    for name, node in job.jobs.items():
        steps[name] = _step(name, node, rest, spec)
        for out, binding in rest["jobs"][name].get("outputs", {}).items():
            if m := re.match(r"^\$\{\{parent\.outputs\.(\w+)\}\}$", str(binding.get("value", ""))):
                outputs[m[1]] = f"{name}.{out}"
    plan = Plan(model=spec.name, steps=_order(steps), outputs=outputs)
    if cached:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(plan.to_dict(), indent=1), encoding="utf-8")
        tmp.replace(cached)
    return plan


def output_dir(run_dir: Path, step: str, output: str) -> Path:
    """The folder made for one step output (a ``uri_folder`` output is this folder)."""
    return run_dir / "steps" / step / output


def output_path(run_dir: Path, step: Step, output: str) -> Path:
    """Where a step output lives: its folder (``uri_folder``) or a file in that folder (``uri_file``)."""
    folder = output_dir(run_dir, step.name, output)
    return folder / output if step.output_types.get(output) == "uri_file" else folder


def prepare_outputs(run_dir: Path, step: Step) -> None:
    """Make each output's folder, as Azure ML mounts an empty folder (or a file's folder) before the step."""
    for out in step.outputs:
        output_dir(run_dir, step.name, out).mkdir(parents=True, exist_ok=True)


def check_input(step: Step, name: str, value: str | None) -> None:
    """A path input must exist and be what its type says: a file for ``uri_file``, a folder for ``uri_folder``."""
    kind = step.input_types.get(name, "")
    if value is None or kind not in PATH_TYPES:
        return
    path = Path(value)
    if kind == "uri_file" and not path.is_file():
        got = "a folder" if path.is_dir() else "nothing"
        raise PipelineError(f"step {step.name}: input {name} is declared uri_file but {path} is {got}; declare it "
                            "uri_folder in the component, or bind it to a file")
    if kind == "uri_folder" and not path.is_dir():
        got = "a file" if path.is_file() else "nothing"
        raise PipelineError(f"step {step.name}: input {name} is declared uri_folder but {path} is {got}; declare it "
                            "uri_file in the component, or bind it to a folder")


def resolve_command(step: Step, pipeline_inputs: dict[str, str | None], run_dir: Path,
                    producers: dict[str, Step] | None = None, python: str | None = None) -> list[str]:
    """The step's command as an argv: placeholders replaced by values and paths, optional ``$[[...]]`` blocks
    kept only when every input they name has a value, ``python`` replaced by ``python`` (default: this
    interpreter). ``producers``: the plan's steps by name, to bind an input to its producer's file or folder."""
    values: dict[str, str | None] = {}
    for name, binding in step.inputs.items():
        m = _REF.match(binding)
        if m is None:
            values[name] = binding
        elif m["input"]:
            values[name] = pipeline_inputs.get(m["input"])
        else:
            producer = (producers or {}).get(m["job"])
            values[name] = str(output_path(run_dir, producer, m["output"]) if producer
                               else output_dir(run_dir, m["job"], m["output"]))

    def substitute(text: str) -> str:
        def one(m: re.Match[str]) -> str:
            if m[1] == "outputs":
                return shlex.quote(str(output_path(run_dir, step, m[2])))
            value = values.get(m[2])
            if value is None:
                raise PipelineError(f"step {step.name}: input {m[2]} has no value")
            if producers is not None:
                check_input(step, m[2], value)
            return shlex.quote(value)
        return _PLACEHOLDER.sub(one, text)

    def optional(m: re.Match[str]) -> str:
        named = [n for kind, n in _PLACEHOLDER.findall(m[1]) if kind == "inputs"]
        return substitute(m[1]) if all(values.get(n) not in (None, "") for n in named) else ""

    argv = shlex.split(substitute(_OPTIONAL.sub(optional, step.command)))
    if argv and argv[0] in ("python", "python3"):
        argv[0] = python or sys.executable
    return argv


REGISTRATION_OUTPUT = "registration"  # the pipeline output holding registered.json


def read_registration(plan: Plan, run_dir: Path) -> Registration:
    """The register step's ``registered.json`` as a record; a shape it cannot be (a model's own register stage
    may write anything) is a ``PipelineError`` naming the file and the field."""
    path = _output_file(plan, run_dir, REGISTRATION_OUTPUT, "registered.json")
    try:
        f = Fields(path, json.loads(path.read_text(encoding="utf-8")))
        return Registration(name=f.text("name"),
                            version=f.get("version", 'the registered version as text (e.g. "3")', ..., _is_text),
                            tags=f.get("tags", "a mapping of text to text", {}, _is_text_map),
                            reused=f.get("reused", "true or false", False, lambda v: isinstance(v, bool)))
    except CatalogError as exc:  # names the file and the field
        raise PipelineError(f"models/{plan.model}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise PipelineError(f"models/{plan.model}: {path}: {exc}") from None


def _is_text(value: object) -> bool:
    return isinstance(value, str) and value != ""


def _is_text_map(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in as_dict(value).items())


def _output_file(plan: Plan, run_dir: Path, output: str, file: str) -> Path:
    """The file ``file`` of the pipeline output ``output`` in ``run_dir``; ``PipelineError`` when it is missing."""
    if output not in plan.outputs:
        raise PipelineError(f"models/{plan.model}: the training pipeline must return an output named "
                            f"{output!r}")
    step, out = plan.outputs[output].split(".", 1)
    path = output_dir(run_dir, step, out) / file
    if not path.is_file():
        raise PipelineError(f"step {step} wrote no {file} in its output {out}")
    return path


def read_output_json(plan: Plan, run_dir: Path, output: str, file: str) -> dict[str, Any]:
    return json.loads(_output_file(plan, run_dir, output, file).read_text(encoding="utf-8"))
