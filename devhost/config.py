"""host.json and local.settings.json, read the way Core Tools reads them."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .appindex import resolve_settings


@dataclass
class HostConfig:
    """What devhost takes from the app directory's settings files."""

    hub_name: str = "TestHubName"
    route_prefix: str = "api"
    max_activities: int | None = None
    function_keys: dict[str, str] = field(default_factory=dict)
    master_key: str = ""
    system_key: str = ""  # durabletask_extension: the Durable management API
    eventgrid_key: str = ""  # eventgrid_extension: the Event Grid webhook and devhost's local topic
    values: dict[str, str] = field(default_factory=dict)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise SystemExit(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a JSON object at the top level")
    return data


def load_config(app_dir: Path, state_dir: Path) -> HostConfig:
    """Read `<app_dir>/host.json` and `<app_dir>/local.settings.json` (both optional).

    `%AppSetting%` in host.json's `extensions.durableTask` and `extensions.http` is replaced by the setting (the
    environment, else local.settings.json `Values`), as the host does (`"hubName": "%TASKHUB_NAME%"`).
    Keys: `local.settings.json` → `"Keys": {"functionKeys": {"default": ...}, "masterKey": ...,
    "systemKeys": {"durabletask_extension": ..., "eventgrid_extension": ...}}`; a key not set there is generated
    once and kept in the state directory (`master.key`, `durabletask_extension.key`, `eventgrid_extension.key`,
    mode 0600 in a 0700 directory), as the host generates its system keys, so only callers that read it get in.
    """
    cfg = HostConfig()
    settings = app_dir / "local.settings.json"
    if settings.exists():
        data = _read_json(settings)
        cfg.values = {str(k): str(v) for k, v in (data.get("Values") or {}).items()}
        keys = data.get("Keys") or {}
        cfg.function_keys = {str(k): str(v) for k, v in (keys.get("functionKeys") or {}).items()}
        cfg.master_key = str(keys.get("masterKey") or "")
        system_keys = keys.get("systemKeys") or {}
        cfg.system_key = str(system_keys.get("durabletask_extension") or "")
        cfg.eventgrid_key = str(system_keys.get("eventgrid_extension") or "")
    host_json = app_dir / "host.json"
    if host_json.exists():
        extensions = _read_json(host_json).get("extensions", {})
        app_settings = {**cfg.values, **os.environ}  # what the app will see: the environment wins
        durable = resolve_settings(extensions.get("durableTask") or {}, app_settings,
                                   f"{host_json}: extensions.durableTask")
        http = resolve_settings(extensions.get("http") or {}, app_settings, f"{host_json}: extensions.http")
        prefix = http.get("routePrefix")
        if prefix is not None:
            cfg.route_prefix = str(prefix).strip("/")
        cfg.hub_name = durable.get("hubName") or cfg.hub_name
        if durable.get("maxConcurrentActivityFunctions"):
            cfg.max_activities = int(durable["maxConcurrentActivityFunctions"])
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    if not cfg.master_key:
        cfg.master_key = persistent_secret(state_dir / "master.key")
    if not cfg.system_key:
        cfg.system_key = persistent_secret(state_dir / "durabletask_extension.key")
    if not cfg.eventgrid_key:
        cfg.eventgrid_key = persistent_secret(state_dir / "eventgrid_extension.key")
    return cfg


def persistent_secret(path: Path) -> str:
    """The secret in `path`, created (mode 0600, exclusively: a concurrent creator's value wins) when absent."""
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(32))
    value = path.read_text().strip()
    if not value:
        raise SystemExit(f"{path}: empty key file; delete it to have a new key generated")
    return value


def apply_values(values: dict[str, str]) -> list[str]:
    """local.settings.json Values → environment variables, never overriding ones already set; returns the keys
    it added."""
    added = []
    for key, value in values.items():
        if key not in os.environ:
            os.environ[key] = value
            added.append(key)
    return added
