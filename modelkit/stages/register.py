"""Register: log the artifact folder to the pipeline's MLflow run and register it as a version of the model,
tagged with the factory run id, the data URI and etag, the source commit and the metrics.

Idempotent per run id: if a version tagged with this ``run_id`` exists, it is reused, never duplicated.
MLflow talks to whatever ``MLFLOW_TRACKING_URI`` names: the Azure ML workspace inside an AML job, the
factory's SQLite registry under the local runner. Writes ``registered.json`` (name, version, tags, reused:
whether this run id had registered the version already; ``contract.Registration``).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def version_tags(run_id: str, metrics: dict[str, float], task: str, data_uri: str = "", data_etag: str = "",
                 source_commit: str = "") -> dict[str, str]:
    """The tags of a registered version: lineage, one tag per metric the evaluate stage wrote, and ``metrics``
    listing those tags' names (the factory reads the metrics from it; it knows no metric names)."""
    tags = {"run_id": run_id, "task": task, "data_uri": data_uri, "data_etag": data_etag,
            "source_commit": source_commit, "metrics": ",".join(metrics)}
    tags.update({name: repr(float(value)) for name, value in metrics.items()})
    return {k: v for k, v in tags.items() if v}


def register(model_dir: Path, name: str, tags: dict[str, str]) -> dict:
    """Register ``model_dir`` as a version of ``name`` (or find the one this run id registered)."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    found = client.search_model_versions(f"name='{name}' and tags.run_id='{tags['run_id']}'")
    if found:
        version = min(found, key=lambda v: int(v.version))
        return {"name": name, "version": str(version.version), "tags": dict(version.tags), "reused": True}
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(model_dir), artifact_path="model")
        mlflow.set_tags({"factory.run_id": tags["run_id"]})
        try:
            client.create_registered_model(name)
        except MlflowException as exc:
            if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
                raise
        version = client.create_model_version(name, source=f"runs:/{run.info.run_id}/model",
                                              run_id=run.info.run_id, tags=tags)
    return {"name": name, "version": str(version.version), "tags": tags, "reused": False}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--scores", type=Path, required=True, help="the score stage's output (must exist)")
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--run_id", required=True)
    parser.add_argument("--data_uri", default="")
    parser.add_argument("--data_etag", default="")
    parser.add_argument("--source_commit", default="")
    parser.add_argument("--registration", type=Path, required=True, help="output folder: registered.json")
    args = parser.parse_args(argv)
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        raise SystemExit("register: MLFLOW_TRACKING_URI is not set; there is no model registry to register in")
    if not (args.scores / "summary.json").is_file():
        raise SystemExit(f"register: {args.scores}/summary.json is missing; the model was not scored")
    metrics = json.loads((args.metrics / "metrics.json").read_text(encoding="utf-8"))
    card = json.loads((args.model / "model.json").read_text(encoding="utf-8"))
    tags = version_tags(args.run_id, metrics, card["task"], args.data_uri, args.data_etag, args.source_commit)
    registered = register(args.model, args.model_name, tags)
    args.registration.mkdir(parents=True, exist_ok=True)
    (args.registration / "registered.json").write_text(json.dumps(registered, indent=2) + "\n", encoding="utf-8")
    print(f"register: {registered['name']} version {registered['version']}"
          + (" (already registered by this run)" if registered["reused"] else ""))


if __name__ == "__main__":
    main()
