"""Helpers of the chain's tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from factory.adapters.local.signing import LocalKeySigner, ensure_key_pair
from localstack.registry import RegistryProcess


@dataclass
class Registries:
    dev: RegistryProcess
    prod: RegistryProcess

    @property
    def dev_host(self) -> str:
        return self.dev.address

    @property
    def prod_host(self) -> str:
        return self.prod.address


def make_signer(folder: Path) -> LocalKeySigner:
    private, public = folder / "signing.key", folder / "signing.pub"
    ensure_key_pair(private, public)
    return LocalKeySigner(private, public)
