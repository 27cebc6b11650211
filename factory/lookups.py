"""What the HTTP, event and dashboard bindings ask of the factory besides the run's steps: the catalog, the
data a manual run names, the approval keys, the source commit. Each reads the process-wide services."""

from __future__ import annotations

import functools
import subprocess

from contract import FleetDevice
from factory.approval import links_base_url, signing_keys
from factory.backends import services
from factory.catalog import load_catalog, scan_catalog
from factory.edge.manifest import module_name
from factory.model_spec import ModelSpec
from factory.rollout.inventory import fleet_inventory, rollout_specs, version_counts
from factory.runs import INCOMING_CONTAINER


def catalog() -> dict[str, ModelSpec]:
    """The model catalog, read anew each call (adding a model folder needs no restart)."""
    return load_catalog(services().settings.models_dir)


def known_models() -> set[str]:
    return set(catalog())


def scan() -> tuple[dict[str, ModelSpec], dict[str, str]]:
    """The models that load and the folders skipped with their reason, from one read of the models folder."""
    return scan_catalog(services().settings.models_dir)


def broken_models() -> dict[str, str]:
    """The model folders skipped because they do not load, with the reason (file and field)."""
    return scan_catalog(services().settings.models_dir)[1]


def latest_upload(model: str) -> str | None:
    """The URL of the model's most recent upload (``incoming/<model>/...``), or None."""
    return services().blob_store.latest(INCOMING_CONTAINER, f"{model}/")


@functools.cache
def source_commit() -> str:
    """The commit the factory's models come from: ``FACTORY_SOURCE_COMMIT`` or the checkout's HEAD."""
    settings = services().settings
    if settings.source_commit:
        return settings.source_commit
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=settings.models_dir)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def setting(name: str, default: str = "") -> str:
    """One app setting (for the bindings, which read no environment themselves)."""
    return services().settings.env(name, default)


def approval_keys() -> list[str]:
    """The accepted approval signing keys: the current one, then the previous one during rotation."""
    return signing_keys(services().settings)


def approval_base_url() -> str:
    """The app's public address, as the approval links name it."""
    return links_base_url(services().settings)


def incoming_blob_url(name: str) -> str | None:
    """The URL of ``incoming/<name>`` in the configured account, or None for a name that is not plain."""
    from factory.datasource import DataSourceError, resolve

    store = services().blob_store
    try:
        ref = resolve(name, name.partition("/")[0], store.account_url)
    except DataSourceError:
        return None
    return store.url_of(ref.container, ref.name)


def same_blob(given: object, expected: str) -> bool:
    """Whether an event's ``data.url`` names the blob ``expected`` (the configured account's URL for it)."""
    from factory.datasource import blob_of_url

    if not isinstance(given, str):
        return False
    account = services().blob_store.account_url
    return blob_of_url(given, account) == blob_of_url(expected, account) is not None


def resolve_data(model: str, data: str) -> str:
    """The configured account's URL of the blob a manual run's ``data`` names; ``DataSourceError`` otherwise."""
    from factory.datasource import resolve

    store = services().blob_store
    ref = resolve(data, model, store.account_url)
    return store.url_of(ref.container, ref.name)


def fleet_devices() -> list[FleetDevice]:
    """Every device of the fleet (``Fleet.inventory``) with its ring in each model's declared rollout."""
    return fleet_inventory(services().fleet, rollout_specs(catalog()))


def versions_on_devices(model: str) -> dict[str, int] | None:
    """Reported version -> devices running it, over the model's declared fleet (None: no ``rollout:``)."""
    spec = catalog().get(model)
    if spec is None or spec.rollout is None:
        return None
    return version_counts(services().fleet.device_reports(spec.rollout.fleet, module_name(model)))
