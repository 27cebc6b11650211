"""The Bicep files parse (pycep-parser) and are wired together correctly: what `bicep build` would catch first.

There is no Bicep CLI here, so these tests check what it would: modules exist, every parameter passed to a module
is declared by it and every required one is passed, every `<module>.outputs.<name>` exists, and the parameter
files only set parameters main.bicep declares (and set every required one).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pycep import BicepParser

INFRA = Path(__file__).resolve().parents[2] / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_bicep_file_parses(bicep_parser: BicepParser, path: Path) -> None:
    doc = bicep_parser.parse(file_path=path)
    assert doc.get("resources") or doc.get("modules"), f"{path}: declares no resource and no module"


def test_main_uses_every_module_file_and_only_existing_ones(bicep) -> None:
    used = {m["detail"]["path"] for m in bicep["main.bicep"]["modules"].values()}
    on_disk = {str(p.relative_to(INFRA)) for p in (INFRA / "modules").glob("*.bicep")}
    assert used - on_disk == set(), f"main.bicep references missing modules: {sorted(used - on_disk)}"
    assert on_disk - used == set(), f"modules not used by main.bicep: {sorted(on_disk - used)}"


def test_module_parameters_match_their_declarations(bicep) -> None:
    problems = []
    for symbol, module in bicep["main.bicep"]["modules"].items():
        path = module["detail"]["path"]
        declared = bicep[path].get("parameters", {})
        passed = set(module["config"].get("params", {}))
        required = {name for name, p in declared.items() if p.get("default") is None}
        if unknown := passed - set(declared):
            problems.append(f"module {symbol} ({path}): unknown params {sorted(unknown)}")
        if missing := required - passed:
            problems.append(f"module {symbol} ({path}): required params not passed {sorted(missing)}")
    assert problems == []


def test_module_outputs_used_by_main_exist(bicep) -> None:
    text = (INFRA / "main.bicep").read_text()
    modules = bicep["main.bicep"]["modules"]
    references = set(re.findall(r"\b(\w+)\.outputs\.(\w+)", text))
    assert references, "main.bicep reads no module output: the regex or the file changed"
    missing = [
        f"{symbol}.outputs.{name}"
        for symbol, name in sorted(references)
        if name not in bicep[modules[symbol]["detail"]["path"]].get("outputs", {})
    ]
    assert missing == []


def test_child_module_symbols_are_declared(bicep) -> None:
    """Every `scope:`/`parent:` symbol refers to a resource declared in the same file."""
    problems = []
    for file, doc in bicep.items():
        symbols = set(doc.get("resources", {}))
        for symbol, res in doc.get("resources", {}).items():
            config = res["config"].get("config", res["config"]) if "loop_type" in res["config"] else res["config"]
            if "condition" in config and "config" in config:
                config = config["config"]
            for key in ("scope", "parent"):
                target = config.get(key)
                if isinstance(target, str) and target not in symbols:
                    problems.append(f"{file}: {symbol}.{key} = {target!r} is not a resource of this file")
    assert problems == []


@pytest.mark.parametrize("name", ["main.parameters.json", "main.dev.parameters.json", "main.prod.parameters.json"])
def test_parameter_file_sets_only_declared_parameters(bicep, name: str) -> None:
    declared = bicep["main.bicep"]["parameters"]
    values = json.loads((INFRA / name).read_text())["parameters"]
    assert set(values) - set(declared) == set(), f"{name}: parameters main.bicep does not declare"
    required = {n for n, p in declared.items() if p.get("default") is None}
    assert required - set(values) == set(), f"{name}: required parameters missing"
    for key, entry in values.items():
        assert "reference" not in entry, f"{name}: {key} pulls a Key Vault secret into a parameter file"


def test_environment_parameter_files_name_their_environment() -> None:
    for env in ("dev", "prod"):
        values = json.loads((INFRA / f"main.{env}.parameters.json").read_text())["parameters"]
        assert values["environmentName"]["value"] == env


def test_docs_describe_every_parameter_of_main(bicep) -> None:
    docs = (INFRA.parent / "docs" / "deploy.md").read_text()
    undocumented = sorted(name for name in bicep["main.bicep"]["parameters"] if f"`{name}`" not in docs)
    assert undocumented == []


def test_no_unused_parameter_or_variable(bicep) -> None:
    """Bicep's no-unused-params / no-unused-vars linter rules: a declared name is used somewhere else."""
    unused = []
    for file, doc in bicep.items():
        text = (INFRA / file).read_text()
        for kind in ("parameters", "variables"):
            for name in doc.get(kind, {}):
                uses = len(re.findall(rf"(?<![\w.']){re.escape(name)}\b", text))
                if uses < 2:  # the declaration itself is one
                    unused.append(f"{file}: {kind[:-1]} {name}")
    assert unused == []
