"""The image's HEALTHCHECK, as the local builder runs it once during verification."""

from __future__ import annotations

import pytest

from factory.adapters.local.podman import healthcheck_command


def test_healthcheck_forms_become_the_command_to_exec():
    assert healthcheck_command(["CMD", "python3", "-c", "print(1)"]) == ["python3", "-c", "print(1)"]
    assert healthcheck_command(["CMD-SHELL", "curl -f localhost || exit 1"]) == [
        "/bin/sh", "-c", "curl -f localhost || exit 1"]
    assert healthcheck_command(["NONE"]) is None
    assert healthcheck_command(None) is None and healthcheck_command([]) is None
    with pytest.raises(ValueError, match="unknown HEALTHCHECK test form 'SHELL'"):
        healthcheck_command(["SHELL", "x"])
