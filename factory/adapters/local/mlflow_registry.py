"""Local model registry: MLflow tracking + model registry in SQLite under ``<state_dir>/mlflow/``.

Settings (through ``Settings.env``):
- ``MLFLOW_TRACKING_URI``: optional; defaults to ``sqlite:///<state_dir>/mlflow/mlflow.db``.

Layout: ``mlflow.db`` (runs, metrics, registered models), ``artifacts/<model>/`` (each experiment's artifact
root; one experiment per model, named after it). The production version is the one carrying the
registered-model alias ``production``. A version's metrics are the tags its ``metrics`` tag names
(``metrics_from_tags``), as the register stage writes them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from factory import ports
from factory.adapters.local.host import file_lock
from factory.ports import ModelVersion
from factory.settings import Settings
from factory.training_pipeline import metrics_from_tags

PRODUCTION_ALIAS = "production"


def mlflow_dir(state_dir: Path) -> Path:
    return Path(state_dir).resolve() / "mlflow"


def default_tracking_uri(state_dir: Path) -> str:
    return f"sqlite:///{mlflow_dir(state_dir) / 'mlflow.db'}"


def ensure_experiment(tracking_uri: str, state_dir: Path, model: str) -> str:
    """Create the SQLite store (schema migrations run once, under a lock) and the model's experiment;
    returns the experiment id. Safe to call from several processes at once."""
    from mlflow import MlflowClient

    with file_lock(mlflow_dir(state_dir) / ".lock"):
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        found = client.get_experiment_by_name(model)
        if found is not None:
            return found.experiment_id
        artifacts = mlflow_dir(state_dir) / "artifacts" / model
        return client.create_experiment(model, artifact_location=artifacts.as_uri())


def ui_run_url(ui: str, experiment_id: str, run_id: str) -> str:
    """A run's page in an MLflow UI at ``ui`` (its single-page app's route)."""
    return f"{ui.rstrip('/')}/#/experiments/{quote(experiment_id, safe='')}/runs/{quote(run_id, safe='')}"


def ui_version_url(ui: str, model: str, version: str) -> str:
    """A registered model version's page in an MLflow UI at ``ui``."""
    return f"{ui.rstrip('/')}/#/models/{quote(model, safe='')}/versions/{quote(str(version), safe='')}"


class MlflowModelRegistry:
    """``ModelRegistry`` over MLflow's model registry."""

    def __init__(self, tracking_uri: str) -> None:
        from mlflow import MlflowClient

        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    @classmethod
    def from_settings(cls, settings: Settings) -> MlflowModelRegistry:
        uri = settings.env("MLFLOW_TRACKING_URI", default_tracking_uri(settings.state_dir))
        if uri.startswith("sqlite:///"):
            Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return cls(uri)

    def _version(self, mv: Any) -> ModelVersion:
        tags = dict(mv.tags or {})
        return ModelVersion(name=mv.name, version=str(mv.version), metrics=metrics_from_tags(tags), tags=tags,
                            artifact_uri=f"models:/{mv.name}/{mv.version}")

    def get(self, name: str, version: str) -> ModelVersion:
        return self._version(self.client.get_model_version(name, str(version)))

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first (empty when the model was never registered)."""
        found = self.client.search_model_versions(f"name='{name}'")
        return [self._version(mv) for mv in sorted(found, key=lambda mv: int(mv.version))]

    def production(self, name: str) -> ModelVersion | None:
        from mlflow.exceptions import MlflowException

        try:
            return self._version(self.client.get_model_version_by_alias(name, PRODUCTION_ALIAS))
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise

    def download(self, name: str, version: str, dest: Path) -> Path:
        import mlflow.artifacts

        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        mv = self.client.get_model_version(name, str(version))
        path = mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=str(dest),
                                                   tracking_uri=self.tracking_uri)
        return Path(path)

    def mark_production(self, name: str, version: str) -> None:
        self.client.get_model_version(name, str(version))  # raises when the version does not exist
        self.client.set_registered_model_alias(name, PRODUCTION_ALIAS, str(version))


# pyright checks each adapter against its port here (a missing or mistyped method fails `make test`)
_MlflowModelRegistry: type[ports.ModelRegistry] = MlflowModelRegistry
