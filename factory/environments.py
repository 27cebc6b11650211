"""Environment specs: a component's conda file (training) and a serving ``requirements.txt``, parsed, compared.

Training and serving must not drift: every package both sides name must be pinned compatibly (a version pinned
with ``==`` on one side must satisfy the other side's specifier). ``serving_mismatches`` lists each package
that drifts; the gate fails a run on any of them, naming the package and both files.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from factory.fields import as_dict, as_list

_CONDA_DEP = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)\s*(?:(?P<op>==|>=|<=|=|>|<|!=)\s*(?P<version>[^\s=]+))?$")


class EnvironmentSpecError(ValueError):
    """A conda file or requirements file is unreadable or malformed; the message names the file and entry."""


@dataclass(frozen=True)
class EnvSpec:
    """A conda environment file: its python version (``3.11``) and its requirements as pip strings."""

    file: Path
    python: str | None
    requirements: tuple[str, ...]

    @property
    def digest(self) -> str:
        """A key for a built environment: the python version and the requirements, order-independent."""
        text = "\n".join([f"python={self.python}", *sorted(self.requirements)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _requirement(text: str, file: Path, where: str) -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        raise EnvironmentSpecError(f"{file}: {where}: {text!r} is not a requirement ({exc})") from None


def load_conda(file: Path) -> EnvSpec:
    """Parse a conda environment file (see ``parse_conda``)."""
    file = Path(file)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise EnvironmentSpecError(f"{file}: cannot read the conda file: {exc}") from None
    return parse_conda(raw, file)


def parse_conda(raw: Any, file: Path) -> EnvSpec:
    """A conda environment's ``dependencies`` (conda packages, ``python=X.Y``, ``pip``) and their ``pip:``
    list. Conda packages other than python and pip are taken as the PyPI package of the same name."""
    deps = as_dict(raw).get("dependencies")
    if not isinstance(deps, list):
        raise EnvironmentSpecError(f"{file}: field dependencies: expected a list of packages")
    deps = cast(list[Any], deps)
    python: str | None = None
    requirements: list[str] = []
    for i, dep in enumerate(deps):
        spec = as_dict(dep)
        if set(spec) == {"pip"} and isinstance(spec.get("pip"), list):
            for j, line in enumerate(as_list(spec.get("pip"))):
                if str(line).strip().startswith("-"):  # a pip option (an index URL): the machine's indexes apply
                    continue
                requirements.append(str(_requirement(str(line), file, f"dependencies[{i}].pip[{j}]")))
            continue
        m = _CONDA_DEP.match(str(dep).strip()) if isinstance(dep, str) else None
        if m is None:
            raise EnvironmentSpecError(f"{file}: dependencies[{i}]: {dep!r} is not a conda package spec")
        name, op, version = m["name"], m["op"], m["version"]
        if name == "python":
            python = ".".join((version or "").split(".")[:2]) or None
        elif name != "pip":
            op = "==" if op == "=" else op
            requirements.append(f"{name}{op}{version}" if op else name)
    return EnvSpec(file=file, python=python, requirements=tuple(requirements))


def read_requirements(file: Path) -> tuple[str, ...]:
    """The requirements of a pip ``requirements.txt`` (comments and blank lines skipped; no options)."""
    out: list[str] = []
    for n, line in enumerate(Path(file).read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if text:
            if text.startswith("-"):
                raise EnvironmentSpecError(f"{file}: line {n}: options ({text.split()[0]}) are not supported")
            out.append(str(_requirement(text, file, f"line {n}")))
    return tuple(out)


def _by_name(requirements: tuple[str, ...]) -> dict[str, Requirement]:
    return {canonicalize_name(r.name): r for r in map(Requirement, requirements)}


def _pinned(req: Requirement) -> str | None:
    pins = [s.version for s in req.specifier if s.operator in ("==", "===")]
    return pins[0] if pins else None


def mismatches(training: tuple[str, ...], serving: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """``(package, training specifier, serving specifier)`` for each package both name incompatibly: a
    version pinned on one side that the other side's specifier does not allow."""
    train, serve = _by_name(training), _by_name(serving)
    found: list[tuple[str, str, str]] = []
    for name in sorted(set(train) & set(serve)):
        a, b = train[name], serve[name]
        pin_a, pin_b = _pinned(a), _pinned(b)
        ok = ((pin_a is None or b.specifier.contains(pin_a, prereleases=True))
              and (pin_b is None or a.specifier.contains(pin_b, prereleases=True)))
        if not ok:
            found.append((name, str(a.specifier) or "(any)", str(b.specifier) or "(any)"))
    return found


def serving_mismatches(training_file: Path, serving_file: Path) -> list[str]:
    """One message per package whose training and serving versions drift (empty: they agree)."""
    training = load_conda(training_file).requirements
    serving = read_requirements(serving_file)
    return [f"package {name}: training environment {training_file} has {a}, serving image {serving_file} has {b}; "
            "pin the same version in both" for name, a, b in mismatches(training, serving)]
