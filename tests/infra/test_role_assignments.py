"""Least privilege: exactly these role assignments exist, with Azure built-in role definition ids.

The Functions app submits AML jobs, runs ACR Tasks on the dev registry, imports into the prod registry but cannot
push to it, deploys IoT Edge manifests; the AML compute reads the incoming data container. Role ids are from the
Azure built-in roles reference (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from factory.adapters.azure.iothub import REQUIRED_DATA_ACTIONS

INFRA = Path(__file__).resolve().parents[2] / "infra"

BUILT_IN = {
    "AzureML Data Scientist": "f6c7c914-8db3-469d-8ca1-694a8f32e121",
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Container Registry Tasks Contributor": "fb382eab-e894-4461-af04-94435c366c3f",
    "Container Registry Data Importer and Data Reader": "577a9874-89fd-4f24-9dbd-b5034d0ad23a",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Key Vault Crypto User": "12338af0-0e69-4776-bea7-57ae8d297424",
}
NAME_OF = {guid: name for name, guid in BUILT_IN.items()}

# Roles that must never be granted by this template (too broad, or a push path into the prod registry).
FORBIDDEN = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "AcrPush": "8311e382-0749-4cb8-b61a-304f252e45ec",
    "IoT Hub Data Contributor": "4fc6c259-987e-4a07-842e-c321cc9d413f",
}

EXPECTED = {
    ("app", "amlWorkspace", "AzureML Data Scientist"),
    ("app", "amlStorage", "Storage Blob Data Contributor"),
    ("app", "devRegistry", "Container Registry Tasks Contributor"),
    ("app", "devRegistry", "AcrPull"),
    ("app", "prodRegistry", "Container Registry Data Importer and Data Reader"),
    ("app", "iotHub", "custom:edgeDeployerRole"),
    ("app", "keyVault", "Key Vault Secrets User"),
    ("app", "signingKey", "Key Vault Crypto User"),  # signs images and attestations with that one key
    ("app", "incomingContainer", "Storage Blob Data Reader"),
    ("app", "validatedContainer", "Storage Blob Data Contributor"),  # pins the validated bytes
    ("app", "hostStorage", "Storage Blob Data Owner"),
    ("app", "hostStorage", "Storage Queue Data Contributor"),
    ("app", "hostStorage", "Storage Table Data Contributor"),
    ("app", "appInsights", "Monitoring Metrics Publisher"),
    ("amlCompute", "validatedContainer", "Storage Blob Data Reader"),  # trains only the pinned copy
    ("amlCompute", "amlStorage", "Storage Blob Data Contributor"),
    ("amlCompute", "amlRegistry", "AcrPull"),
    ("eventGridTopic", "deadLetterContainer", "Storage Blob Data Contributor"),
}

PRINCIPALS = {"appPrincipalId": "app", "amlComputePrincipalId": "amlCompute"}


def _role_name(role_definition: Any, variables: dict[str, Any]) -> str:
    if "operator" in role_definition:  # <customRole>.id
        return f"custom:{role_definition['operator']['operands']['operand_1']}"
    ref = role_definition["function"]["parameters"]["resource_name_1"]
    if isinstance(ref, dict):  # roleIds.<name>
        operands = ref["operator"]["operands"]
        guid = variables[operands["operand_1"]]["value"][operands["operand_2"]]
    else:  # a variable holding the id
        guid = variables[ref]["value"]
    return NAME_OF.get(guid, f"unknown:{guid}")


def _principal(principal: Any) -> str:
    if isinstance(principal, str):
        return PRINCIPALS.get(principal, principal)
    if "topics" in json.dumps(principal):
        return "eventGridTopic"
    return json.dumps(principal)


def assignments(bicep, resources) -> set[tuple[str, str, str]]:
    found = set()
    for r in resources:
        if r.type != "Microsoft.Authorization/roleAssignments":
            continue
        props = r.body["properties"]
        assert props["principalType"] == "ServicePrincipal", f"{r.file}:{r.symbol}"
        name = r.body["name"]["function"]
        assert name["type"] == "guid", f"{r.file}:{r.symbol}: name must be guid(scope.id, principal, role)"
        assert name["parameters"]["base_string"]["operator"]["operands"]["operand_1"] == r.body["scope"]
        role = _role_name(props["roleDefinitionId"], bicep[r.file].get("variables", {}))
        found.add((_principal(props["principalId"]), r.body["scope"], role))
    return found


def test_role_assignments_are_exactly_the_least_privilege_set(bicep, resources) -> None:
    assert assignments(bicep, resources) == EXPECTED


def test_scopes_are_the_resources_their_names_say(resources) -> None:
    types = {(r.file, r.symbol): r for r in resources}
    expected_types = {
        "amlWorkspace": "Microsoft.MachineLearningServices/workspaces",
        "amlStorage": "Microsoft.Storage/storageAccounts",
        "hostStorage": "Microsoft.Storage/storageAccounts",
        "devRegistry": "Microsoft.ContainerRegistry/registries",
        "prodRegistry": "Microsoft.ContainerRegistry/registries",
        "amlRegistry": "Microsoft.ContainerRegistry/registries",
        "iotHub": "Microsoft.Devices/IotHubs",
        "keyVault": "Microsoft.KeyVault/vaults",
        "signingKey": "Microsoft.KeyVault/vaults/keys",
        "appInsights": "Microsoft.Insights/components",
        "incomingContainer": "Microsoft.Storage/storageAccounts/blobServices/containers",
        "validatedContainer": "Microsoft.Storage/storageAccounts/blobServices/containers",
        "deadLetterContainer": "Microsoft.Storage/storageAccounts/blobServices/containers",
    }
    for r in resources:
        if r.type == "Microsoft.Authorization/roleAssignments":
            scope = types[(r.file, r.body["scope"])]
            assert scope.type == expected_types[r.body["scope"]], f"{r.file}:{r.symbol}"


def test_main_wires_each_identity_and_resource_to_the_right_parameter(bicep) -> None:
    """A swapped devRegistryName/prodRegistryName would hand import rights on dev and Tasks on prod."""
    params = bicep["main.bicep"]["modules"]["roles"]["config"]["params"]

    def source(param: str) -> str:
        value = params[param]
        if isinstance(value, str):
            return value
        operands = value["operator"]["operands"]
        return f"{operands['operand_1']}.outputs.{operands['operand_2']['operator']['operands']['operand_2']}"

    assert source("appPrincipalId") == "functionApp.outputs.principalId"
    assert source("amlComputePrincipalId") == "aml.outputs.computePrincipalId"
    assert source("devRegistryName") == "devRegistry.outputs.name"
    assert source("prodRegistryName") == "prodRegistry.outputs.name"
    assert source("amlRegistryName") == "amlRegistry.outputs.name"
    assert source("incomingStorageName") == "incomingStorage.outputs.name"
    assert source("incomingContainerName") == "incomingContainer"
    assert bicep["main.bicep"]["variables"]["incomingContainer"]["value"] == "incoming"


def test_the_app_cannot_push_to_the_prod_registry(bicep, resources) -> None:
    prod_roles = {role for who, scope, role in assignments(bicep, resources) if scope == "prodRegistry"}
    assert prod_roles == {"Container Registry Data Importer and Data Reader"}
    text = "\n".join(p.read_text() for p in INFRA.rglob("*.bicep"))
    for name, guid in FORBIDDEN.items():
        assert guid not in text, f"infra grants {name} somewhere"


def test_iot_hub_custom_role_is_data_plane_only_and_narrow(by_type) -> None:
    (role,) = by_type("Microsoft.Authorization/roleDefinitions")
    (permissions,) = role.body["properties"]["permissions"]
    assert permissions["actions"] == [], "no control-plane action (listkeys would open every IoT Hub API)"
    assert sorted(permissions["dataActions"]) == sorted([
        "Microsoft.Devices/IotHubs/configurations/read",
        "Microsoft.Devices/IotHubs/configurations/write",
        "Microsoft.Devices/IotHubs/configurations/delete",
        "Microsoft.Devices/IotHubs/configurations/applyToEdgeDevice/action",
        "Microsoft.Devices/IotHubs/twins/read",
        "Microsoft.Devices/IotHubs/twins/write",
        "Microsoft.Devices/IotHubs/devices/read",
    ])
    assert not any("*" in action for action in permissions["dataActions"])
    assert set(permissions["dataActions"]) >= REQUIRED_DATA_ACTIONS, "every call the IoT Hub adapter makes"
    (scope,) = role.body["properties"]["assignableScopes"]
    assert scope["function"]["type"] == "resource_group" and scope["function"]["property_name"] == "id"
