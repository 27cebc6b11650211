"""Real parts for the chain's tests: two Distribution registries on free loopback ports (dev and prod), the
factory's key pair made as ``model-factory up`` makes it, and a foreign key pair."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from factory.adapters.local.host import free_port
from factory.adapters.local.signing import LocalKeySigner
from localstack.registry import start_registry
from tests.supplychain.helpers import Registries, make_signer


@pytest.fixture
def registries(tmp_path: Path) -> Iterator[Registries]:
    dev = start_registry("dev", free_port(), tmp_path)
    try:
        prod = start_registry("prod", free_port(), tmp_path)
    except BaseException:
        dev.stop()
        raise
    yield Registries(dev, prod)
    dev.stop()
    prod.stop()


@pytest.fixture
def signer(tmp_path: Path) -> LocalKeySigner:
    return make_signer(tmp_path / "keys")


@pytest.fixture
def foreign_signer(tmp_path: Path) -> LocalKeySigner:
    return make_signer(tmp_path / "foreign-keys")
