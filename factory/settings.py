"""Settings: read once from the environment (app settings on Azure, local.settings.json under devhost).

Common settings are typed fields; adapter-specific ones are read by each adapter's ``from_settings`` through
``Settings.env`` and documented beside that adapter.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


class SettingsError(ValueError):
    """A required setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    backend: str = "local"  # FACTORY_BACKEND: local | azure
    state_dir: Path = Path(".factory")  # FACTORY_STATE_DIR: local state (registries, MLflow, edge sim, ...)
    models_dir: Path = Path("models")  # FACTORY_MODELS_DIR
    eventgrid_endpoint: str = ""  # FACTORY_EVENTGRID_ENDPOINT: local topic endpoint (devhost); empty = none
    environ: dict[str, str] = field(default_factory=dict[str, str], repr=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        backend = env.get("FACTORY_BACKEND", "local")
        if backend not in ("local", "azure"):
            raise SettingsError(f"FACTORY_BACKEND must be 'local' or 'azure', got {backend!r}")
        root = Path(env.get("FACTORY_ROOT", ".")).resolve()
        # on Azure the app folder is read-only (run from package): scratch space goes to the temp folder
        default_state = str(Path(tempfile.gettempdir()) / "model-factory") if backend == "azure" else ".factory"
        return cls(
            backend=backend,
            state_dir=(root / env.get("FACTORY_STATE_DIR", default_state)).resolve(),
            models_dir=(root / env.get("FACTORY_MODELS_DIR", "models")).resolve(),
            eventgrid_endpoint=env.get("FACTORY_EVENTGRID_ENDPOINT", ""),
            environ=env,
        )

    def env(self, name: str, default: str | None = None) -> str:
        """An adapter-specific setting; raises ``SettingsError`` naming it when missing and no default."""
        value = self.environ.get(name, default)
        if value is None:
            raise SettingsError(f"setting {name} is required for the {self.backend} backend but is not set")
        return value
