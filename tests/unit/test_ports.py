"""Every adapter in the backend table (factory/backends.py) satisfies its port's Protocol: it has each of the
port's methods, with the port's parameters (names, order, kinds), and a ``from_settings`` to be built by."""

from __future__ import annotations

import inspect

import pytest

from factory.backends import ADAPTERS, load_adapter

CASES = [(capability, port, backend, spec) for capability, (port, table) in ADAPTERS.items()
         for backend, spec in table.items()]


def _port_methods(port: type) -> list[str]:
    return [name for name, value in vars(port).items() if inspect.isfunction(value) and not name.startswith("_")]


def _parameters(function) -> list[tuple[str, object]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize(("capability", "port", "backend", "spec"), CASES,
                         ids=[f"{c}-{b}" for c, _, b, _ in CASES])
def test_adapter_satisfies_its_port(capability, port, backend, spec):
    adapter = load_adapter(spec)
    assert callable(getattr(adapter, "from_settings", None)), f"{spec} has no from_settings(settings)"
    for name in _port_methods(port):
        implementation = getattr(adapter, name, None)
        assert implementation is not None, f"{spec} lacks {port.__name__}.{name}"
        wanted = _parameters(getattr(port, name))
        got = _parameters(implementation)[:len(wanted)]
        assert got == wanted, f"{spec}.{name}{inspect.signature(implementation)} differs from the port's " \
                              f"{inspect.signature(getattr(port, name))}"
        extra = inspect.signature(implementation).parameters.values()
        assert all(p.default is not p.empty for p in list(extra)[len(wanted):]), \
            f"{spec}.{name} adds required parameters the port does not pass"


def test_every_port_has_an_adapter_for_every_backend():
    assert {backend for _, (_, table) in ADAPTERS.items() for backend in table} == {"local", "azure"}
    assert all(set(table) == {"local", "azure"} for _, table in ADAPTERS.values())
