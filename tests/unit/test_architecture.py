"""The import rules of docs/architecture.md, checked on the import graph of every first-party module
(static: ``import`` statements anywhere in a module, lazy ones included)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cli", "contract", "factory", "model_server", "orchestrations", "function_app", "devhost", "localstack",
            "modelkit")
FIRST_PARTY = set(PACKAGES)

# room -> the rooms it may import (a module may always import its own room). Rooms are matched longest first.
DOMAIN = "factory"
RULES: dict[str, set[str]] = {
    "contract": set(),  # the run contract: a leaf, pure records and names
    "devhost": set(),  # a generic Functions + Durable host: knows nothing of the factory
    "model_server": set(),  # runs inside every model image, alone
    "orchestrations": {"contract"},  # replayed: the contract only, never the domain
    DOMAIN: {"contract", "model_server"},  # domain + ports: no adapter, no stand-in, no binding
    "factory.adapters.azure": {DOMAIN, "contract"},
    "factory.adapters.local": {DOMAIN, "contract", "factory.adapters.azure", "model_server"},
    "cli": {DOMAIN, "contract", "factory.adapters.local", "localstack", "model_server"},  # the command line
    "function_app": {DOMAIN, "contract", "orchestrations"},
    "localstack": {DOMAIN, "contract", "factory.adapters.local", "factory.adapters.azure"},
    "modelkit": {DOMAIN, "contract"},  # the standard pipeline is built with factory.kit; templates test the domain
    "modelkit.stages": set(),  # run inside Azure ML jobs, beside the model's own src/ (additional_includes)
    "modelkit.serving": set(),  # runs inside every model image, alone
    "modelkit.environments": {"model_server"},  # an environment's serving script, beside model_server
}


def room(module: str) -> str:
    return max((r for r in RULES if module == r or module.startswith(r + ".")), key=len)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """First-party modules ``path`` imports (absolute imports; the repo uses no relative ones)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] in FIRST_PARTY}


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES if (ROOT / package).is_dir()
            for p in sorted((ROOT / package).rglob("*.py"))}


MODULES = _modules()


def _target(name: str) -> str | None:
    """The module an imported name refers to (``from factory import steps`` imports ``factory.steps``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def refusal(module: str, target: str) -> str | None:
    """Why ``module`` may not import ``target``, or None when it may."""
    mine, theirs = room(module), room(target)
    if theirs != mine and theirs not in RULES[mine]:
        return (f"{module} ({mine}) imports {target} ({theirs}); {mine} may import "
                f"{', '.join(sorted(RULES[mine])) or 'nothing first-party'}")
    return None


def violations() -> list[str]:
    found = []
    for module, path in MODULES.items():
        for imported in sorted(imports(path)):
            target = _target(imported)
            if target is not None and target != module and (why := refusal(module, target)):
                found.append(why)
    return found


def test_every_import_follows_the_rules_of_docs_architecture_md():
    assert violations() == []


def test_every_module_is_in_a_room():
    assert "factory.steps" in MODULES and "localstack.stack" in MODULES and all(room(m) for m in MODULES)
    assert "factory.backends" in {_target(i) for i in imports(MODULES["factory.steps"])}  # the graph is read


@pytest.mark.parametrize(("module", "target", "allowed"), [
    ("factory.steps", "factory.adapters.local.podman", False),
    ("factory.edge.service", "localstack.edge_simulator", False),
    ("factory.adapters.azure.acr", "factory.adapters.local.podman", False),
    ("orchestrations.run", "factory.backends", False),
    ("orchestrations.run", "factory.runs", False),
    ("orchestrations.run", "contract.runs", True),
    ("contract.runs", "factory.ports", False),
    ("factory.steps", "orchestrations.run", False),
    ("devhost.engine", "contract.runs", False),
    ("function_app.edge", "factory.edge.service", True),
    ("function_app.http", "localstack.stack", False),
    ("localstack.stack", "factory.adapters.local.host", True),
    ("model_server.server", "factory.catalog", False),
    ("modelkit.stages.register", "factory.catalog", False),
    ("modelkit.pipeline", "factory.kit", True),
])
def test_the_rules_refuse_what_they_should(module, target, allowed):
    assert (refusal(module, target) is None) is allowed


CLOUD_NAMES = (".azurecr.io", "devstoreaccount1", ".blob.core.windows.net", "azure-devices.net")


def test_the_domain_names_no_cloud_host_and_branches_on_no_backend():
    """What differs between backends is an adapter's business (a port method), never the domain's."""
    found = []
    for module, path in MODULES.items():
        domain = room(module) in ("contract", DOMAIN, "orchestrations", "function_app")
        if domain and module not in ("factory.backends", "factory.settings"):
            text = path.read_text()
            found += [f"{module}: {name}" for name in CLOUD_NAMES if name in text]
            found += [f"{module}: {m}" for m in re.findall(r"settings\.backend\b|\bbackend\s*[!=]=", text)]
    assert found == []
