"""host.json and local.settings.json, read the way Core Tools reads them."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class HostConfig:
    """What devhost takes from the app directory's settings files."""

    hub_name: str = "TestHubName"
    route_prefix: str = "api"
    max_activities: int | None = None
    function_keys: dict[str, str] = field(default_factory=dict)
    master_key: str = ""
    system_key: str = ""
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

    Keys: `local.settings.json` → `"Keys": {"functionKeys": {"default": ...}, "masterKey": ...}`; when absent a
    random master key is generated once and kept in the state directory (so only callers that read it get in).
    """
    cfg = HostConfig()
    host_json = app_dir / "host.json"
    if host_json.exists():
        extensions = _read_json(host_json).get("extensions", {})
        durable = extensions.get("durableTask", {})
        prefix = (extensions.get("http") or {}).get("routePrefix")
        if prefix is not None:
            cfg.route_prefix = str(prefix).strip("/")
        cfg.hub_name = durable.get("hubName") or cfg.hub_name
        if durable.get("maxConcurrentActivityFunctions"):
            cfg.max_activities = int(durable["maxConcurrentActivityFunctions"])
    settings = app_dir / "local.settings.json"
    if settings.exists():
        data = _read_json(settings)
        cfg.values = {str(k): str(v) for k, v in (data.get("Values") or {}).items()}
        keys = data.get("Keys") or {}
        cfg.function_keys = {str(k): str(v) for k, v in (keys.get("functionKeys") or {}).items()}
        cfg.master_key = str(keys.get("masterKey") or "")
        cfg.system_key = str((keys.get("systemKeys") or {}).get("durabletask_extension") or "")
    state_dir.mkdir(parents=True, exist_ok=True)
    if not cfg.master_key:
        cfg.master_key = _persistent_secret(state_dir / "master.key")
    if not cfg.system_key:
        cfg.system_key = _persistent_secret(state_dir / "durabletask_extension.key")
    return cfg


def _persistent_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    path.write_text(value)
    path.chmod(0o600)
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
