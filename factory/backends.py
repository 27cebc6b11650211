"""The one place that reads ``FACTORY_BACKEND`` and builds the set of adapters (the "stack").

Each adapter class has ``from_settings(settings)``; adapters are built lazily, on first use, so a
process only imports the SDKs it needs.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from factory import ports
from factory.rollout.fleet import Fleet
from factory.settings import Settings

# capability -> (its port, backend -> "module:Class"); tests/unit/test_ports.py checks each class against its port
ADAPTERS: dict[str, tuple[type, dict[str, str]]] = {
    "trainer": (ports.Trainer, {
        "local": "factory.adapters.local.pipeline:LocalPipelineTrainer",
        "azure": "factory.adapters.azure.aml:AmlTrainer",
    }),
    "model_registry": (ports.ModelRegistry, {
        "local": "factory.adapters.local.mlflow_registry:MlflowModelRegistry",
        "azure": "factory.adapters.azure.aml:AmlModelRegistry",
    }),
    "image_builder": (ports.ImageBuilder, {
        "local": "factory.adapters.local.podman:PodmanImageBuilder",
        "azure": "factory.adapters.azure.acr:AcrTaskImageBuilder",
    }),
    "image_registry": (ports.ImageRegistry, {
        "local": "factory.adapters.local.registry:LocalImageRegistry",
        "azure": "factory.adapters.azure.acr:AcrImageRegistry",
    }),
    "edge_deployer": (ports.EdgeDeployer, {
        "local": "factory.adapters.local.edge:EdgeSimulatorDeployer",
        "azure": "factory.adapters.azure.iothub:IotHubEdgeDeployer",
    }),
    "blob_store": (ports.BlobStore, {
        # the same SDK adapter on Azurite, keeping pinned blobs in the state folder (Azurite loses its last 5 s)
        "local": "factory.adapters.local.blob_pins:PinnedBlobStorage",
        "azure": "factory.adapters.azure.blob:BlobStorage",
    }),
    "signer": (ports.Signer, {
        "local": "factory.adapters.local.signing:LocalKeySigner",
        "azure": "factory.adapters.azure.keyvault:KeyVaultSigner",
    }),
    "fleet": (Fleet, {
        "local": "factory.adapters.local.fleet_store:LocalFleet",
        "azure": "factory.adapters.azure.iothub:IotHubFleet",
    }),
    "notifier": (ports.Notifier, {
        "local": "factory.adapters.local.notifier:LogNotifier",
        "azure": "factory.adapters.azure.notifier:WebhookNotifier",
    }),
}


def load_adapter(spec: str) -> Any:
    """The adapter class named ``module:Class``."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


class Services:
    """The adapters for one backend, built on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _build(self, capability: str) -> Any:
        cls = load_adapter(ADAPTERS[capability][1][self.settings.backend])
        return cls.from_settings(self.settings)

    @functools.cached_property
    def trainer(self) -> ports.Trainer:
        return self._build("trainer")

    @functools.cached_property
    def model_registry(self) -> ports.ModelRegistry:
        return self._build("model_registry")

    @functools.cached_property
    def image_builder(self) -> ports.ImageBuilder:
        return self._build("image_builder")

    @functools.cached_property
    def image_registry(self) -> ports.ImageRegistry:
        return self._build("image_registry")

    @functools.cached_property
    def edge_deployer(self) -> ports.EdgeDeployer:
        return self._build("edge_deployer")

    def edge_device(self, name: str) -> ports.EdgeDeployer:
        """The deployer for one device of the pool (``factory.edge.pool``); ``""``: the default device."""
        if not name:
            return self.edge_deployer
        from factory.edge.pool import PoolError, devices

        device = next((d for d in devices(self.settings) if d.name == name), None)
        if device is None:
            raise PoolError(f"edge device {name!r} is not in FACTORY_EDGE_DEVICES")
        deployer: type[ports.EdgeDeployer] = load_adapter(ADAPTERS["edge_deployer"][1][self.settings.backend])
        return deployer.for_device(self.settings, device)

    @functools.cached_property
    def blob_store(self) -> ports.BlobStore:
        return self._build("blob_store")

    @functools.cached_property
    def signer(self) -> ports.Signer:
        return self._build("signer")

    @functools.cached_property
    def fleet(self) -> Fleet:
        return self._build("fleet")

    @functools.cached_property
    def notifier(self) -> ports.Notifier:
        return self._build("notifier")


@functools.cache
def services() -> Services:
    """The process-wide services, from the environment."""
    return Services(Settings.from_env())
