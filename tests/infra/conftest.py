"""Fixtures for the infrastructure tests: every Bicep file parsed once with pycep-parser."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"


def bicep_paths() -> list[Path]:
    """Every .bicep file under infra/, sorted."""
    return sorted(INFRA.rglob("*.bicep"))


@dataclass(frozen=True)
class Resource:
    """One resource declaration: where it is, its symbol, type, and its body with loop/condition unwrapped."""

    file: str
    symbol: str
    type: str
    existing: bool
    body: dict[str, Any]
    loop: dict[str, Any] | None
    condition: Any


def _unwrap(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None, Any]:
    loop = config.get("loop_type")
    condition = config.get("condition")
    if "config" in config and ("loop_type" in config or "condition" in config):
        return config["config"], loop, condition
    return config, None, None


@pytest.fixture(scope="session")
def bicep_parser() -> BicepParser:
    """One parser for the session (building the grammar takes about a second)."""
    return BicepParser()


@pytest.fixture(scope="session")
def bicep(bicep_parser: BicepParser) -> dict[str, dict[str, Any]]:
    """Parsed Bicep (pycep JSON) by path relative to infra/, e.g. 'main.bicep', 'modules/storage.bicep'."""
    return {str(p.relative_to(INFRA)): bicep_parser.parse(file_path=p) for p in bicep_paths()}


@pytest.fixture(scope="session")
def resources(bicep: dict[str, dict[str, Any]]) -> list[Resource]:
    """Every resource declared in any Bicep file."""
    found = []
    for file, doc in bicep.items():
        for symbol, res in doc.get("resources", {}).items():
            body, loop, condition = _unwrap(res["config"])
            found.append(Resource(file, symbol, res["type"], res["existing"], body, loop, condition))
    return found


def of_type(resources: list[Resource], type_: str, *, existing: bool = False) -> list[Resource]:
    """Resources of one type (declared, or `existing` references when asked)."""
    return [r for r in resources if r.type.lower() == type_.lower() and r.existing == existing]


@pytest.fixture(scope="session")
def by_type(resources: list[Resource]):
    """`by_type('Microsoft.Storage/storageAccounts')` -> declared resources of that type."""
    return lambda type_, existing=False: of_type(resources, type_, existing=existing)
