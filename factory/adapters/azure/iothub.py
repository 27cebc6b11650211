"""IoT Hub (``azure-iot-hub``): ``IotHubEdgeDeployer`` (the ``EdgeDeployer`` port: the smoke-test IoT Edge
device) and ``IotHubFleet`` (the rollout's ``Fleet`` port: layered deployments, paged twin queries, the one-time
ring bucket tag; below). The smoke device:

- ``current_content``: the device's modules content, rebuilt from the desired properties of its
  ``$edgeAgent`` and ``$edgeHub`` twins and of the twins of the modules ``$edgeAgent`` lists (as
  ``az iot edge export-modules`` does);
- ``apply``: ``IoTHubConfigurationManager.apply_configuration_on_edge_device``;
- ``reported``: the module twin's reported properties (``IoTHubRegistryManager.get_module_twin``);
- ``restore``: applies the snapshot; an empty snapshot becomes a system-modules-only deployment;
- ``lease``/``release``: the device twin tag ``factorySmokeLease`` ``{holder, expires_at, queue}``, written
  with the twin's etag (``If-Match``) so two runs cannot both take it; ``queue`` holds the runs waiting for the
  device, oldest first, and the device goes to the one that asked first (``factory.edge.pool.fair_lease``,
  the local simulator's rule). The queue lives on the device's own twin, beside the lease it orders: one
  etag-guarded write changes both, no other store (or Azure service) is involved, and the Function app's
  role already has ``twins/write``.

The pure half (the lease tag read and written, modules content rebuilt from twins, configurations and twin
fields read back as records) is in ``iothub_mapping.py``; every SDK call is here.

Settings (``settings.env``):
- ``IOTHUB_HOSTNAME`` (``<hub>.azure-devices.net``) and ``IOTHUB_EDGE_DEVICE_ID`` (the smoke-test device):
  required;
- authentication: ``DefaultAzureCredential`` (the Function app's managed identity, which needs the data
  actions in ``REQUIRED_DATA_ACTIONS``; the Bicep's custom "Model Factory Edge Deployer" role grants them;
  ``AZURE_CLIENT_ID`` picks a user-assigned identity); the SDK accepts token credentials for both managers.
  Only if ``IOTHUB_CONNECTION_STRING`` is set (an app setting that is a Key Vault reference, never a
  literal) a shared-access policy is used instead.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from contract import DeviceReport, EdgeLease, FleetDevice
from factory import ports
from factory.adapters.azure.iothub_mapping import (
    content_from_twins,
    deployment_of,
    desired_only,
    last_activity,
    lease_from_tag,
    lease_tag,
    metrics_of,
    system_only_content,
)
from factory.edge.pool import LeaseState, fair_lease, released
from factory.rollout.fleet import (
    LABEL_MODEL,
    QUERY_PAGE,
    Fleet,
    LayeredDeployment,
    device_view,
    id_chunks,
    literal,
    module_report,
    report_fields,
    reporter_name,
)
from factory.rollout.spec import BUCKET_TAG
from factory.settings import SettingsError

SYSTEM_TWINS = ("$edgeAgent", "$edgeHub")
LEASE_TAG = "factorySmokeLease"
LEASE_WRITE_ATTEMPTS = 5

# The IoT Hub data actions this adapter's calls need (infra/modules/role-assignments.bicep must grant them; a
# test checks): get_twin / get_module_twin, update_twin (the lease tag), get_modules, and
# apply_configuration_on_edge_device.
REQUIRED_DATA_ACTIONS = frozenset({
    "Microsoft.Devices/IotHubs/twins/read",
    "Microsoft.Devices/IotHubs/twins/write",
    "Microsoft.Devices/IotHubs/devices/read",
    "Microsoft.Devices/IotHubs/configurations/applyToEdgeDevice/action",
})


class IotHubEdgeDeployer:
    """The smoke-test IoT Edge device behind Azure IoT Hub."""

    def __init__(self, hostname: str, device_id: str, credential: Any = None, connection_string: str = "",
                 smoke_image: str = "") -> None:
        from azure.iot.hub import IoTHubConfigurationManager, IoTHubRegistryManager

        self.device_id = device_id
        self.smoke_image_ref = smoke_image
        if connection_string:
            self.registry = IoTHubRegistryManager.from_connection_string(connection_string)
            self.configurations = IoTHubConfigurationManager.from_connection_string(connection_string)
        else:
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential()
            self.registry = IoTHubRegistryManager.from_token_credential(hostname, credential)
            self.configurations = IoTHubConfigurationManager.from_token_credential(hostname, credential)

    @classmethod
    def from_settings(cls, settings: Any) -> IotHubEdgeDeployer:
        """``IOTHUB_HOSTNAME``, ``IOTHUB_EDGE_DEVICE_ID``; optional ``IOTHUB_CONNECTION_STRING`` (Key Vault ref)."""
        connection_string = settings.env("IOTHUB_CONNECTION_STRING", "")
        hostname = settings.env("IOTHUB_HOSTNAME", "") if connection_string else settings.env("IOTHUB_HOSTNAME")
        return cls(hostname, settings.env("IOTHUB_EDGE_DEVICE_ID"), connection_string=connection_string,
                   smoke_image=settings.env("FACTORY_EDGE_SMOKE_IMAGE", ""))

    def smoke_image(self) -> str:
        """Setting ``FACTORY_EDGE_SMOKE_IMAGE``: the smoke module's ACR image by digest (infra builds it)."""
        if not self.smoke_image_ref:
            raise SettingsError("setting FACTORY_EDGE_SMOKE_IMAGE is required for the azure backend but is not set")
        return self.smoke_image_ref

    @classmethod
    def for_device(cls, settings: Any, device: Any) -> IotHubEdgeDeployer:
        """The deployer for one pool device (``factory.edge.pool.Device``; its name is the IoT Hub device id)."""
        connection_string = settings.env("IOTHUB_CONNECTION_STRING", "")
        hostname = settings.env("IOTHUB_HOSTNAME", "") if connection_string else settings.env("IOTHUB_HOSTNAME")
        return cls(hostname, device.name, connection_string=connection_string,
                   smoke_image=settings.env("FACTORY_EDGE_SMOKE_IMAGE", ""))

    def _device_twin(self) -> Any:
        """The device twin (the SDK's ``Twin``; its stubs also allow a raw response, which it never returns here)."""
        return self.registry.get_twin(self.device_id)

    def _module_twin(self, module: str) -> Any:
        return self.registry.get_module_twin(self.device_id, module)

    def _desired(self, module: str) -> dict[str, Any]:
        twin = self._module_twin(module)
        return desired_only(twin.properties.desired if twin.properties else {})

    def current_content(self) -> dict[str, Any]:
        twins = {m: self._desired(m) for m in SYSTEM_TWINS}
        listed = twins["$edgeAgent"].get("modules", {})
        existing = {m.module_id for m in cast(list[Any], self.registry.get_modules(self.device_id))}
        for module in listed:
            if module in existing:
                twins[module] = self._desired(module)
        return content_from_twins(twins)

    def apply(self, content: dict[str, Any]) -> None:
        from azure.iot.hub.models import ConfigurationContent

        self.configurations.apply_configuration_on_edge_device(
            self.device_id, ConfigurationContent(modules_content=content))

    def restore(self, content: dict[str, Any]) -> None:
        self.apply(content or system_only_content())

    def _read_lease(self) -> tuple[LeaseState, str]:
        """The device's lease tag as a ``LeaseState`` and the twin's etag."""
        twin = self._device_twin()
        return lease_from_tag((twin.tags or {}).get(LEASE_TAG)), twin.etag

    def _write_lease(self, state: LeaseState, etag: str) -> bool:
        """Write the lease tag if the twin still has ``etag``; False when another run wrote it first (412)."""
        from azure.iot.hub.models import Twin
        from msrest.exceptions import HttpOperationError

        try:
            self.registry.update_twin(self.device_id, Twin(tags={LEASE_TAG: lease_tag(state)}), etag)
        except HttpOperationError as exc:
            if getattr(exc.response, "status_code", None) == 412:
                return False
            raise
        return True

    def lease(self, holder: str, ttl_seconds: float) -> EdgeLease:
        """``fair_lease`` on the twin's lease tag, written with its etag; a write that lost the race to another
        run's is retried on the fresh twin (``LEASE_WRITE_ATTEMPTS`` times, then the run asks again later)."""
        for _ in range(LEASE_WRITE_ATTEMPTS):
            state, etag = self._read_lease()
            new, answer = fair_lease(state, holder, ttl_seconds, dt.datetime.now(dt.UTC))
            if new == state or self._write_lease(new, etag):
                return answer
        return EdgeLease(False, reason=f"the lease tag kept changing under {LEASE_WRITE_ATTEMPTS} writes")

    def release(self, holder: str) -> None:
        for _ in range(LEASE_WRITE_ATTEMPTS):
            state, etag = self._read_lease()
            new = released(state, holder)
            if new == state or self._write_lease(new, etag):
                return

    def reported(self, module: str) -> dict[str, Any]:
        from msrest.exceptions import HttpOperationError

        try:
            twin = self._module_twin(module)
        except HttpOperationError as exc:
            if getattr(exc.response, "status_code", None) == 404:  # module not (yet) created by edgeAgent
                return {}
            raise
        return desired_only(twin.properties.reported if twin.properties else {})


# --- Fleet: the rollout's layered deployments and the fleet's twins ----------------------------------------------
FLEET_DATA_ACTIONS = frozenset({  # the role grants these too (infra/modules/role-assignments.bicep)
    "Microsoft.Devices/IotHubs/configurations/read",
    "Microsoft.Devices/IotHubs/configurations/write",
    "Microsoft.Devices/IotHubs/configurations/delete",
    "Microsoft.Devices/IotHubs/twins/read",
    "Microsoft.Devices/IotHubs/twins/write",
})


def configuration_of(deployment: LayeredDeployment) -> Any:
    """The SDK ``Configuration`` for a ``LayeredDeployment``: an IoT Edge layered deployment (modulesContent)."""
    from azure.iot.hub.models import Configuration, ConfigurationContent, ConfigurationMetrics

    return Configuration(id=deployment.id, schema_version="1.0", labels=dict(deployment.labels),
                         content=ConfigurationContent(modules_content=deployment.modules_content),
                         target_condition=deployment.target_condition, priority=deployment.priority,
                         metrics=ConfigurationMetrics(queries=dict(deployment.metrics)))


def _quoted(value: str) -> str:
    return "'" + value + "'"


class IotHubFleet:
    """``Fleet`` on Azure IoT Hub: configurations through ``IoTHubConfigurationManager``, twins through
    ``IoTHubRegistryManager`` (paged queries; one twin update per device only for its one-time bucket tag)."""

    def __init__(self, registry: Any, configurations: Any) -> None:
        self.registry, self.configurations = registry, configurations

    @classmethod
    def from_settings(cls, settings: Any) -> IotHubFleet:
        """``IOTHUB_HOSTNAME`` (token credential) or ``IOTHUB_CONNECTION_STRING`` (a Key Vault reference)."""
        from azure.iot.hub import IoTHubConfigurationManager, IoTHubRegistryManager

        connection_string = settings.env("IOTHUB_CONNECTION_STRING", "")
        if connection_string:
            return cls(IoTHubRegistryManager.from_connection_string(connection_string),
                       IoTHubConfigurationManager.from_connection_string(connection_string))
        from azure.identity import DefaultAzureCredential

        hostname, credential = settings.env("IOTHUB_HOSTNAME"), DefaultAzureCredential()
        return cls(IoTHubRegistryManager.from_token_credential(hostname, credential),
                   IoTHubConfigurationManager.from_token_credential(hostname, credential))

    def deployments(self, model: str) -> list[LayeredDeployment]:
        found = cast(list[Any], self.configurations.get_configurations(max_count=100) or [])
        return [deployment_of(c) for c in found if (c.labels or {}).get(LABEL_MODEL) == model]

    def create_deployment(self, deployment: LayeredDeployment) -> None:
        from msrest.exceptions import HttpOperationError

        try:
            self.configurations.create_configuration(configuration_of(deployment))
        except HttpOperationError as exc:
            if getattr(exc.response, "status_code", None) != 409:  # 409: it exists (a retried activity)
                raise

    def delete_deployment(self, deployment_id: str) -> None:
        from msrest.exceptions import HttpOperationError

        try:
            self.configurations.delete_configuration(deployment_id)
        except HttpOperationError as exc:
            if getattr(exc.response, "status_code", None) != 404:
                raise

    def deployment_metrics(self, deployment_id: str) -> dict[str, int]:
        return metrics_of(self.configurations.get_configuration(deployment_id))

    def _query(self, query: str) -> list[Any]:
        """Every twin a query returns, page by page."""
        from azure.iot.hub.models import QuerySpecification

        twins: list[Any] = []
        token: str | None = None
        while True:
            page = self.registry.query_iot_hub(QuerySpecification(query=query), token, QUERY_PAGE)
            twins += list(page.items or [])
            token = page.continuation_token
            if not token:
                return twins

    def untagged_devices(self, condition: str, tag: str) -> list[str]:
        return [t.device_id for t in self._query(f"SELECT * FROM devices WHERE ({condition}) "  # noqa: S608
                                                 f"AND NOT IS_DEFINED(tags.{tag})")]

    def tag_devices(self, tags: dict[str, dict[str, Any]]) -> None:
        from azure.iot.hub.models import Twin

        for device_id, patch in tags.items():
            self.registry.update_twin(device_id, Twin(tags=patch), "*")

    def device_reports(self, condition: str, module: str) -> list[DeviceReport]:
        devices = {t.device_id: t for t in self._query(f"SELECT * FROM devices WHERE {condition}")}  # noqa: S608
        reported: dict[str, dict[str, dict[str, Any]]] = {}
        # on a device the model's report is in its reporter's twin (a module writes only its own), the runtime
        # status in edgeAgent's: two twins a device, never the model module's own (``module_report``)
        reporter = reporter_name(literal(module, "module"))
        for ids in id_chunks(sorted(devices)):
            chunk = ", ".join(_quoted(i) for i in ids)
            modules = f"'$edgeAgent', {_quoted(reporter)}"
            query = (f"SELECT * FROM devices.modules WHERE moduleId IN [{modules}] "  # noqa: S608
                     f"AND deviceId IN [{chunk}]")
            for twin in self._query(query):
                reported.setdefault(twin.device_id, {})[twin.module_id] = desired_only(
                    twin.properties.reported if twin.properties else {})
        return [report_fields(d, dict(t.tags or {}), (t.connection_state or "") == "Connected",
                              reported.get(d, {}).get("$edgeAgent", {}), module,
                              module_report(reported.get(d, {}), module), BUCKET_TAG)
                for d, t in devices.items()]

    def inventory(self) -> list[FleetDevice]:
        """The devices query, then every module twin of those devices (one query per ``id_chunks`` list)."""
        devices = {t.device_id: t for t in self._query("SELECT * FROM devices")}
        desired: dict[str, dict[str, dict[str, Any]]] = {}
        reported: dict[str, dict[str, dict[str, Any]]] = {}
        for ids in id_chunks(sorted(devices)):
            chunk = ", ".join(_quoted(i) for i in ids)
            for twin in self._query(f"SELECT * FROM devices.modules WHERE deviceId IN [{chunk}]"):  # noqa: S608
                props = twin.properties
                desired.setdefault(twin.device_id, {})[twin.module_id] = desired_only(props.desired if props else {})
                reported.setdefault(twin.device_id, {})[twin.module_id] = desired_only(
                    props.reported if props else {})
        return [device_view(d, dict(t.tags or {}), (t.connection_state or "") == "Connected",
                            last_activity(t.last_activity_time), desired.get(d, {}), reported.get(d, {}), BUCKET_TAG)
                for d, t in sorted(devices.items())]


# pyright checks each adapter against its port here (a missing or mistyped method fails `make test`)
_IotHubEdgeDeployer: type[ports.EdgeDeployer] = IotHubEdgeDeployer
_IotHubFleet: type[Fleet] = IotHubFleet
