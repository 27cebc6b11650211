"""The Function App's settings: the names the app reads are all set by the Bicep, secrets only as Key Vault
references, host storage by identity, and docs/deploy.md documents each one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

# The contract agreed for issue 7: names the app reads on Azure.
AGREED = {"FACTORY_BACKEND", "AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AML_WORKSPACE", "AML_COMPUTE",
          "FACTORY_DEV_ACR_NAME", "FACTORY_PROD_ACR_NAME", "FACTORY_ACR_RESOURCE_GROUP", "IOTHUB_HOSTNAME",
          "IOTHUB_EDGE_DEVICE_ID",
          "INCOMING_STORAGE_ACCOUNT_URL", "APPROVAL_SIGNING_KEY", "APPROVAL_BASE_URL", "APPROVAL_WEBHOOK_URL",
          "AzureWebJobsStorage__accountName"}
KEY_VAULT_ONLY = {"APPROVAL_SIGNING_KEY", "APPROVAL_SIGNING_KEY_PREVIOUS", "EDGE_REGISTRY_PASSWORD"}
NOT_SECRET = {"FACTORY_SIGNING_KEY_ID"}  # the URL of a Key Vault key that never leaves the vault, not a key
REQUIRED_READ = re.compile(r"""\benv\(\s*["']([A-Z][A-Z0-9_]+)["']\s*\)""")  # env("NAME") with no default
CODE_DIRS = ("factory", "function_app", "orchestrations")


def settings_from_bicep(bicep) -> dict[str, Any]:
    """Every app setting the Bicep can set: host settings, factory settings, rotation settings."""
    main = bicep["main.bicep"]["variables"]
    rotation = main["rotationSettings"]["value"]["operator"]["operands"]["false_value"]
    return {
        **bicep["modules/functionapp.bicep"]["variables"]["hostSettings"]["value"],
        **main["factorySettings"]["value"],
        **rotation,
    }


def names_the_code_requires() -> dict[str, str]:
    """Setting names read with no default anywhere in the app code (local adapters excepted), with a location."""
    found = {}
    for folder in CODE_DIRS:
        for path in sorted((REPO / folder).rglob("*.py")):
            if "adapters/local" in path.as_posix() or path.name == "settings.py":
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                for name in REQUIRED_READ.findall(line):
                    found.setdefault(name, f"{path.relative_to(REPO)}:{n}")
    return found


def test_the_agreed_settings_are_all_set(bicep) -> None:
    assert AGREED - set(settings_from_bicep(bicep)) == set()


def test_every_setting_the_app_code_requires_is_set(bicep) -> None:
    required = names_the_code_requires()
    assert required, "no env(...) read found: the pattern or the code changed"
    missing = {name: where for name, where in required.items() if name not in settings_from_bicep(bicep)}
    assert missing == {}, f"read by the app without a default but not set on Azure: {missing}"


def test_secrets_are_key_vault_references(bicep) -> None:
    settings = settings_from_bicep(bicep)
    prefix = bicep["main.bicep"]["variables"]["keyVaultReference"]["value"]
    assert prefix.startswith("@Microsoft.KeyVault(VaultName=") and prefix.endswith(";SecretName=")
    for name in KEY_VAULT_ONLY:
        assert settings[name].startswith("${keyVaultReference}") and settings[name].endswith(")"), name
    for name, value in settings.items():
        if re.search(r"KEY|PASSWORD|SECRET|TOKEN", name) and name not in KEY_VAULT_ONLY | NOT_SECRET:
            pytest.fail(f"{name} looks secret but is not a Key Vault reference: {value!r}")


def test_host_storage_is_identity_based(bicep) -> None:
    settings = settings_from_bicep(bicep)
    assert "AzureWebJobsStorage" not in settings, "a connection string would need the account key"
    assert settings["AzureWebJobsStorage__accountName"] == "hostStorageName"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["FACTORY_BACKEND"] == "azure"
    assert "FACTORY_BLOB_CONNECTION_STRING" not in settings and "IOTHUB_CONNECTION_STRING" not in settings


def test_docs_describe_every_setting(bicep) -> None:
    docs = (REPO / "docs" / "deploy.md").read_text()
    undocumented = sorted(name for name in settings_from_bicep(bicep) if f"`{name}`" not in docs)
    assert undocumented == []


def test_function_timeout_outlasts_the_longest_activity_wait():
    """An activity killed by functionTimeout would be retried and start a second ACR run: the host's timeout
    must outlast the ACR builder's wait (its run timeout + 300 s of margin) on the Flex Consumption plan."""
    import inspect
    import json

    from factory.adapters.azure.acr import AcrTaskImageBuilder

    host = json.loads((REPO / "host.json").read_text())
    hours, minutes, seconds = (int(x) for x in host["functionTimeout"].split(":"))
    timeout_s = hours * 3600 + minutes * 60 + seconds
    run_timeout = inspect.signature(AcrTaskImageBuilder).parameters["run_timeout"].default
    assert timeout_s > run_timeout + 300
