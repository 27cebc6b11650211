"""The local MLflow UI: MLflow's tracking server app on 127.0.0.1, over the tracking store the factory writes
(``sqlite:///<state>/mlflow/mlflow.db``, or ``MLFLOW_TRACKING_URI``), so the approval card, the run page and
``train`` can link a training run and a model version to a page.

One process, one worker: ``mlflow server`` would start a wrapper, a uvicorn child and (with job execution on)
a job runner with seven consumers, about 0.9 GB on this machine; here the same FastAPI app
(``mlflow.server.fastapi_app``) is configured as ``mlflow server`` configures it (the same environment
variables, named by MLflow's own constants) and served by uvicorn in this process, so the stack's supervisor
sees one process that holds the port (and a SIGKILL leaves nothing), and its arguments name the state folder.
No artifact serving: the store's artifact roots are local folders the UI reads directly.

    python -m localstack.mlflow_ui --port 5400 --state-dir .factory
"""

from __future__ import annotations

import argparse
import os
import uuid
from pathlib import Path


def tracking_uri(state_dir: Path) -> str:
    """The store the UI serves: ``MLFLOW_TRACKING_URI`` when set, else the factory's default under the state dir."""
    from factory.adapters.local.mlflow_registry import default_tracking_uri

    return os.environ.get("MLFLOW_TRACKING_URI", "") or default_tracking_uri(state_dir)


def configure(store: str, artifact_root: str, port: int) -> None:
    """Set what ``mlflow server`` sets for its app (before the app is imported); only this loopback address as
    the Host (MLflow's default also takes private-network addresses: a DNS-rebinding page could read runs)."""
    from mlflow.environment_variables import MLFLOW_SERVER_ALLOWED_HOSTS, MLFLOW_SERVER_ENABLE_JOB_EXECUTION
    from mlflow.server.constants import ARTIFACT_ROOT_ENV_VAR, BACKEND_STORE_URI_ENV_VAR, REGISTRY_STORE_URI_ENV_VAR

    os.environ[BACKEND_STORE_URI_ENV_VAR] = store
    os.environ[REGISTRY_STORE_URI_ENV_VAR] = store
    os.environ[ARTIFACT_ROOT_ENV_VAR] = artifact_root
    os.environ[MLFLOW_SERVER_ENABLE_JOB_EXECUTION.name] = "false"
    os.environ[MLFLOW_SERVER_ALLOWED_HOSTS.name] = f"127.0.0.1:{port},localhost:{port}"
    os.environ.setdefault("_MLFLOW_SGI_NAME", "uvicorn")
    os.environ.setdefault("_MLFLOW_SERVER_BOOT_ID", uuid.uuid4().hex)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    from factory.adapters.local.mlflow_registry import mlflow_dir

    folder = mlflow_dir(args.state_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = tracking_uri(args.state_dir)
    configure(store, (folder / "artifacts").as_uri(), args.port)
    from mlflow import MlflowClient

    from factory.adapters.local.host import file_lock

    with file_lock(folder / ".lock"):  # the store's schema is made (or migrated) once, as the factory's writers do
        MlflowClient(tracking_uri=store, registry_uri=store).search_experiments(max_results=1)
    import uvicorn

    uvicorn.run("mlflow.server.fastapi_app:app", host="127.0.0.1", port=args.port, workers=1,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
