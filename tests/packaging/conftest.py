"""Fixtures: each model trained once per session with its own ``src``; loopback registries with events."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from factory.adapters.local.host import free_port
from localstack.registry import RegistryProcess, RegistryWithBridge, start_registry, start_registry_with_events
from tests.packaging.helpers import EventReceiver, train_with_src


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    """``artifacts(model)`` → the folder with model.joblib and model.json, trained on the model's sample data."""
    cache: dict[str, Path] = {}

    def get(model: str) -> Path:
        if model not in cache:
            cache[model] = train_with_src(model, tmp_path_factory.mktemp(f"train-{model}"))
        return cache[model]

    return get


@contextlib.contextmanager
def running_registries(folder: Path) -> Iterator[tuple[EventReceiver, RegistryWithBridge, RegistryProcess]]:
    """(event receiver, dev registry with its push-event bridge, prod registry) on free loopback ports, state in
    ``folder``; stopped on leaving."""
    receiver = EventReceiver()
    dev = start_registry_with_events("dev", free_port(), folder, eventgrid_endpoint=receiver.url)
    prod = start_registry("prod", free_port(), folder)
    try:
        yield receiver, dev, prod
    finally:
        dev.stop()
        prod.stop()
        receiver.stop()


@pytest.fixture()
def registries(tmp_path: Path):
    """``running_registries`` for one test."""
    with running_registries(tmp_path) as running:
        yield running
