"""Fixtures for the model catalog, validation, pipeline and registry tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from models_testlib import EventSink  # noqa: E402


@pytest.fixture
def event_sink() -> Iterator[EventSink]:
    sink = EventSink()
    yield sink
    sink.close()
