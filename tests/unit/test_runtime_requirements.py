"""requirements.txt is what the Functions app gets on Azure: every third-party module the deployed code
imports (contract/, function_app/, orchestrations/, factory/ except the local stack, model_server/) must come from
a distribution requirements.txt names, or one they depend on."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = ("contract", "function_app", "orchestrations", "factory", "model_server")
LOCAL_ONLY = ("factory/adapters/local",
              "factory/image_scaffold.py",  # only `model-factory new --kind images` writes model folders
              "model_server/onnx_score.py")  # the last runs in ONNX model images (their requirements.txt)
FIRST_PARTY = {"contract", "function_app", "orchestrations", "factory", "model_server"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _runtime_distributions() -> set[str]:
    """requirements.txt's distributions and everything they require (extras and markers left out)."""
    todo = [_name(line) for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    seen: set[str] = set()
    while todo:
        dist = todo.pop()
        if dist in seen:
            continue
        seen.add(dist)
        try:
            requires = metadata.requires(dist) or []
        except metadata.PackageNotFoundError:  # e.g. a backport whose marker excludes this Python
            continue
        todo.extend(_name(req) for req in requires if "extra ==" not in req)
    return seen


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _namespace_providers(module: str, distributions: list[str]) -> set[str]:
    """The distributions holding ``module`` (a package folder or a .py file), or its nearest parent package."""
    parts = module.split(".")
    while len(parts) > 1:
        path = "/".join(parts)
        found = {_name(d) for d in distributions
                 if any(f.as_posix().startswith((path + "/", path + ".py")) for f in metadata.files(d) or [])}
        if found:
            return found
        parts = parts[:-1]
    return set()


def test_every_module_the_deployed_app_imports_is_installed_by_requirements_txt():
    providers = metadata.packages_distributions()
    runtime = _runtime_distributions()
    missing = []
    for package in DEPLOYED:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(LOCAL_ONLY):
                continue
            for module in _imports(path):
                top = module.split(".")[0]
                if top in FIRST_PARTY or top in sys.stdlib_module_names or top == "__future__":
                    continue
                candidates = {_name(d) for d in providers.get(top, [])}
                if top == "azure":  # a namespace package: the distributions holding the module itself
                    candidates = _namespace_providers(module, providers[top])
                if not candidates & runtime:
                    missing.append(f"{rel}: {module} (from {sorted(candidates) or 'nothing installed'})")
    assert missing == [], "not installed on Azure by requirements.txt:\n" + "\n".join(missing)
