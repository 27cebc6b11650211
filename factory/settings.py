"""Settings: read once from the environment (app settings on Azure, local.settings.json under devhost).

The factory's own settings are typed fields, all declared in one table (``FIELDS``: name, type, default, what it
does), from which ``docs/settings.md`` is generated (``python -m factory.settings > docs/settings.md``; a test
checks it is current). Adapter-specific ones are read by each adapter's ``from_settings`` through
``Settings.env`` and documented beside that adapter and in docs/deploy.md.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    """A required setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Field:
    """One app setting read into a ``Settings`` field."""

    env: str  # the app setting's name
    attr: str  # the Settings field
    kind: type  # str, int, float or Path
    default: Any
    doc: str


FIELDS: tuple[Field, ...] = (
    Field("FACTORY_BACKEND", "backend", str, "local",
          "`local` or `azure`: which adapters `factory/backends.py` builds"),
    Field("FACTORY_ROOT", "root", Path, ".", "the folder the relative paths below are taken from"),
    Field("FACTORY_STATE_DIR", "state_dir", Path, ".factory",
          "local state and scratch space (on Azure default: `<temp>/model-factory`)"),
    Field("FACTORY_MODELS_DIR", "models_dir", Path, "models", "the model folders (the catalog)"),
    Field("FACTORY_EVENTGRID_ENDPOINT", "eventgrid_endpoint", str, "",
          "the local Event Grid topic endpoint (devhost); empty: nothing is published"),
    Field("FACTORY_SOURCE_COMMIT", "source_commit", str, "", "the commit of the models; empty: the checkout's HEAD"),
    Field("FACTORY_BUILD_TIMEOUT_SECONDS", "build_timeout_s", int, 1800,
          "how long a run waits for ImagePushed after the build"),
    Field("FACTORY_RECONCILE_SECONDS", "reconcile_after_s", int, 120,
          "how long a run waits for ModelRegistered / ImagePushed before it asks the registry itself (and again "
          "at that interval)"),
    Field("FACTORY_ACTIVITY_ATTEMPTS", "activity_attempts", int, 3, "tries of each run activity (they are idempotent)"),
    Field("FACTORY_ACTIVITY_RETRY_SECONDS", "activity_retry_s", float, 5.0, "the delay between those tries"),
    Field("FACTORY_ROLLOUT_POLL_SECONDS", "rollout_poll_s", float, 30.0,
          "how often a fleet rollout reads its devices again while a ring waits for `min_devices` to report or a "
          "rollback for the devices to return to the previous version (above 0)"),
    Field("FACTORY_EDGE_SMOKE_IMAGE", "edge_smoke_image", str, "",
          "the smoke module's image; empty: the edge device's own (built locally; required on Azure)"),
    Field("FACTORY_FLEET_REPORTER_IMAGE", "fleet_reporter_image", str, "",
          "the fleet reporter module's image index pinned by digest (`registry/repo@sha256:…`): each rollout ring's "
          "layer runs it beside the model module (its signature is checked like the model image's); empty: the "
          "layer holds the model module only (on Azure: built by the ACR task `edge/fleet_reporter/acr-task.yaml` "
          "in the dev registry, imported into prod by digest and signed, docs/deploy.md; `up --fleet` sets the "
          "local one)"),
    Field("APPROVAL_SIGNING_KEY", "approval_signing_key", str, "",
          "the key approval links are signed with (>= 32 characters; a Key Vault reference on Azure)"),
    Field("APPROVAL_SIGNING_KEY_PREVIOUS", "approval_signing_key_previous", str, "",
          "the previous key, still accepted during rotation"),
    Field("APPROVAL_TIMEOUT_SECONDS", "approval_timeout_s", int, 24 * 3600,
          "how long an approval waits when `model.yaml` sets no `approval.timeout_hours`"),
    Field("APPROVAL_BASE_URL", "approval_base_url", str, "",
          "the public base URL of approval links; empty: `http://<WEBSITE_HOSTNAME>`"),
    Field("WEBSITE_HOSTNAME", "website_hostname", str, "127.0.0.1:7071", "the app's host name (set by App Service)"),
)


@dataclass(frozen=True)
class Settings:
    backend: str = "local"
    root: Path = Path(".")
    state_dir: Path = Path(".factory")
    models_dir: Path = Path("models")
    eventgrid_endpoint: str = ""
    source_commit: str = ""
    build_timeout_s: int = 1800
    reconcile_after_s: int = 120
    activity_attempts: int = 3
    activity_retry_s: float = 5.0
    rollout_poll_s: float = 30.0
    edge_smoke_image: str = ""
    fleet_reporter_image: str = ""
    approval_signing_key: str = ""
    approval_signing_key_previous: str = ""
    approval_timeout_s: int = 24 * 3600
    approval_base_url: str = ""
    website_hostname: str = "127.0.0.1:7071"
    environ: dict[str, str] = field(default_factory=dict[str, str], repr=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {f.attr: _parse(f, env.get(f.env)) for f in FIELDS}
        if values["backend"] not in ("local", "azure"):
            raise SettingsError(f"FACTORY_BACKEND must be 'local' or 'azure', got {values['backend']!r}")
        if values["rollout_poll_s"] <= 0:
            raise SettingsError(f"setting FACTORY_ROLLOUT_POLL_SECONDS must be above 0, got {values['rollout_poll_s']}")
        root = Path(values["root"]).resolve()
        if values["backend"] == "azure" and "FACTORY_STATE_DIR" not in env:
            # on Azure the app folder is read-only (run from package): scratch space goes to the temp folder
            values["state_dir"] = Path(tempfile.gettempdir()) / "model-factory"
        values.update(root=root, state_dir=(root / values["state_dir"]).resolve(),
                      models_dir=(root / values["models_dir"]).resolve())
        return cls(**values, environ=env)

    def env(self, name: str, default: str | None = None) -> str:
        """An adapter-specific setting; raises ``SettingsError`` naming it when missing and no default."""
        value = self.environ.get(name, default)
        if value is None:
            raise SettingsError(f"setting {name} is required for the {self.backend} backend but is not set")
        return value


def _parse(spec: Field, raw: str | None) -> Any:
    if raw is None or raw == "":
        return spec.kind(spec.default) if spec.kind is Path else spec.default
    try:
        return spec.kind(raw)
    except ValueError:
        raise SettingsError(f"setting {spec.env} must be {spec.kind.__name__}, got {raw!r}") from None


def markdown() -> str:
    """``docs/settings.md``: the table of ``FIELDS``."""
    assert {f.attr for f in FIELDS} == {f.name for f in fields(Settings)} - {"environ"}, "FIELDS and Settings differ"
    rows = [f"| `{f.env}` | {f.kind.__name__} | {f'`{f.default}`' if f.default != '' else '(empty)'} | {f.doc} |"
            for f in FIELDS]
    return "\n".join([
        "# App settings of the factory",
        "",
        "Generated from `factory/settings.py` (`FIELDS`) by `python -m factory.settings > docs/settings.md`;",
        "`tests/unit/test_settings.py` fails when this file is not current. Adapter-specific settings (AML, ACR,",
        "IoT Hub, Blob Storage, the local stand-ins) are read by each adapter's `from_settings` and listed in",
        "[deploy.md](deploy.md).",
        "",
        "| setting | type | default | what it does |",
        "|---|---|---|---|",
        *rows,
        "",
    ])


if __name__ == "__main__":
    sys.stdout.write(markdown())
