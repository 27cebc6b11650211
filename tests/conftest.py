"""Which slow tests must share a worker when the suite runs on several (pytest-xdist, ``--dist loadgroup``).

A session fixture is made once per worker, so tests that share an expensive one stay together: every end-to-end
test reads the one local stack and its factory runs (tests/e2e), the edge tests share their simulator and its
images, the model tests their trained runs. Packaging tests build their own images from per-test registries, so
each of their modules is a group of its own and the two workers share them out. Fast tests carry no group and
go wherever a worker is free.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SPLIT_BY_MODULE = {"packaging"}  # folders whose slow modules share no session fixture worth keeping together


def slow_group(path: Path) -> str:
    """The xdist group of a slow test in ``path``: its folder under tests/, or folder/module where split."""
    rel = path.resolve().relative_to(TESTS)
    folder = rel.parts[0] if len(rel.parts) > 1 else "root"
    return f"{folder}/{rel.stem}" if folder in SPLIT_BY_MODULE else folder


# first: xdist's worker reads the groups in its own pytest_collection_modifyitems, so they must be set before it
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("slow") is None or item.get_closest_marker("xdist_group") is not None:
            continue
        try:
            group = slow_group(item.path)
        except ValueError:  # a model's own tests (models/<name>/tests) are not under tests/
            continue
        item.add_marker(pytest.mark.xdist_group(group))
