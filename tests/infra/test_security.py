"""Secure by default: TLS 1.2, no public blob access, no admin users, identities not keys, nothing secret in outputs.

Each test first asserts the resources it checks exist, so none of them can pass by finding nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

TLS_KEYS = re.compile(r"^(minimumTlsVersion|minTlsVersion|scmMinTlsVersion)$")
TLS_OK = {"TLS1_2", "TLS1_3", "1.2", "1.3"}


def walk(node: Any, path: str = ""):
    """Yield (path, key, value) for every key of every nested dict."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


def test_no_resource_allows_tls_below_1_2(resources) -> None:
    seen: dict[str, list[str]] = {}
    for r in resources:
        for path, key, value in walk(r.body):
            if TLS_KEYS.match(key):
                seen.setdefault(r.type, []).append(key)
                assert value in TLS_OK, f"{r.file}: {r.symbol}{path}.{key} = {value!r}, expected TLS 1.2 or later"
    assert seen == {
        "Microsoft.Storage/storageAccounts": ["minimumTlsVersion"],
        "Microsoft.Web/sites": ["minTlsVersion", "scmMinTlsVersion"],
        "Microsoft.Devices/IotHubs": ["minTlsVersion"],
    }


def test_storage_accounts_are_private_tls12_and_keyless(by_type) -> None:
    accounts = by_type("Microsoft.Storage/storageAccounts")
    assert accounts, "no storage account declared"
    for a in accounts:
        props = a.body["properties"]
        where = f"{a.file}:{a.symbol}"
        assert props["minimumTlsVersion"] == "TLS1_2", where
        assert props["allowBlobPublicAccess"] is False, where
        assert props["supportsHttpsTrafficOnly"] is True, where
        assert props["allowSharedKeyAccess"] is False, f"{where}: shared keys must be off (Entra ID only)"
    containers = by_type("Microsoft.Storage/storageAccounts/blobServices/containers")
    assert containers
    for c in containers:
        assert c.body["properties"]["publicAccess"] == "None", f"{c.file}:{c.symbol}"


def test_blob_versioning_is_on_so_an_overwritten_upload_stays_readable(by_type, bicep) -> None:
    (service,) = by_type("Microsoft.Storage/storageAccounts/blobServices")
    assert service.body["properties"]["isVersioningEnabled"] == "versioning"
    assert bicep["modules/storage.bicep"]["parameters"]["versioning"]["default"] is True
    created = bicep["main.bicep"]["modules"]["incomingStorage"]["config"]["params"]["containers"]
    assert "validatedContainer" in created and bicep["main.bicep"]["variables"]["validatedContainer"]["value"] == \
        "validated"


def test_no_resource_allows_public_blob_access_or_admin_user(resources) -> None:
    for r in resources:
        for path, key, value in walk(r.body):
            if key == "allowBlobPublicAccess":
                assert value is False, f"{r.file}:{r.symbol}{path}"
            if key == "publicAccess":
                assert value == "None", f"{r.file}:{r.symbol}{path}"
            if key in ("adminUserEnabled", "anonymousPullEnabled"):
                assert value is False, f"{r.file}:{r.symbol}{path}.{key}"


def test_container_registries_have_admin_user_off(by_type, bicep) -> None:
    registries = by_type("Microsoft.ContainerRegistry/registries")
    assert len(registries) == 1, "one registry module, instantiated for dev, prod and AML"
    assert registries[0].body["properties"]["adminUserEnabled"] is False
    instances = [m for m in bicep["main.bicep"]["modules"].values() if m["detail"]["path"] == "modules/registry.bicep"]
    assert len(instances) == 3, "dev ACR, prod ACR, AML workspace registry"


def test_aml_never_creates_its_own_registry(by_type) -> None:
    """AML creates a registry with the admin user ON when the workspace has none: ours must be set."""
    (workspace,) = by_type("Microsoft.MachineLearningServices/workspaces")
    assert workspace.body["properties"].get("containerRegistry") == "containerRegistryId"
    assert workspace.body["properties"]["systemDatastoresAuthMode"] == "identity"


def test_function_app_is_flex_consumption_python_311_with_system_identity(by_type) -> None:
    (plan,) = by_type("Microsoft.Web/serverfarms")
    assert plan.body["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    (app,) = by_type("Microsoft.Web/sites")
    props = app.body["properties"]
    assert app.body["identity"] == {"type": "SystemAssigned"}
    assert props["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    assert props["functionAppConfig"]["deployment"]["storage"]["authentication"] == {"type": "SystemAssignedIdentity"}
    assert props["httpsOnly"] is True
    assert props["siteConfig"]["ftpsState"] == "Disabled"
    policies = by_type("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {p.body["name"] for p in policies} == {"ftp", "scm"}
    assert all(p.body["properties"]["allow"] is False for p in policies)


def test_iot_hub_and_key_vault_use_entra_id_only(by_type) -> None:
    (hub,) = by_type("Microsoft.Devices/IotHubs")
    assert hub.body["properties"]["disableLocalAuth"] is True
    (vault,) = by_type("Microsoft.KeyVault/vaults")
    assert vault.body["properties"]["enableRbacAuthorization"] is True
    assert vault.body["properties"]["enablePurgeProtection"] is True
    (insights,) = by_type("Microsoft.Insights/components")
    assert insights.body["properties"]["DisableLocalAuth"] is True


def test_aml_compute_cluster_scales_to_zero(by_type) -> None:
    (compute,) = by_type("Microsoft.MachineLearningServices/workspaces/computes")
    props = compute.body["properties"]
    assert props["computeType"] == "AmlCompute"
    assert props["properties"]["scaleSettings"]["minNodeCount"] == 0
    assert compute.body["identity"] == {"type": "SystemAssigned"}
    assert props["disableLocalAuth"] is True


SECRET_WORDS = re.compile(r"listKeys|listCredentials|listConnectionStrings|connectionstring|password|secret|"
                          r"primaryKey|secondaryKey|SharedAccessKey|instrumentationKey", re.IGNORECASE)


def test_no_output_carries_a_key_password_or_connection_string(bicep) -> None:
    outputs = [(f, name, out) for f, doc in bicep.items() for name, out in doc.get("outputs", {}).items()]
    assert len(outputs) >= 10
    for file, name, out in outputs:
        text = json.dumps(out)
        assert not SECRET_WORDS.search(name), f"{file}: output {name}"
        assert not SECRET_WORDS.search(text), f"{file}: output {name} = {text}"
        secure = {p for p, d in bicep[file].get("parameters", {}).items()
                  if any(dec["type"] == "secure" for dec in d["decorators"])}
        assert not any(re.search(rf"\b{re.escape(p)}\b", text) for p in secure), f"{file}: {name} exposes @secure()"


def test_secret_parameters_are_secure_and_never_defaulted(bicep) -> None:
    for file, doc in bicep.items():
        for name, p in doc.get("parameters", {}).items():
            if re.search(r"(key|password|secrets?)$", name, re.IGNORECASE):
                assert any(d["type"] == "secure" for d in p["decorators"]), f"{file}: param {name} is not @secure()"
                assert p.get("default") in (None, "", {}), f"{file}: @secure() param {name} has a default value"


def test_app_service_authentication_fronts_the_approval_page_when_configured(by_type, bicep) -> None:
    (auth,) = by_type("Microsoft.Web/sites/config")
    assert auth.body["name"] == "authsettingsV2" and auth.condition is not None  # only with a client id
    props = auth.body["properties"]
    assert props["platform"]["enabled"] is True
    # webhooks and function-key routes stay reachable; the approval endpoint sends callers to sign-in itself
    assert props["globalValidation"]["unauthenticatedClientAction"] == "AllowAnonymous"
    aad = props["identityProviders"]["azureActiveDirectory"]
    assert aad["enabled"] is True and aad["registration"]["clientId"] == "approverAuthClientId"
    assert props["httpSettings"]["requireHttps"] is True
    params = bicep["main.bicep"]["modules"]["functionApp"]["config"]["params"]
    assert params["approverAuthClientId"] == "approverAuthClientId"
