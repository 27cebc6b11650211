"""``model-factory changed [REF]`` (the models a change touches) and ``retrain MODEL... --url --commit`` (a
run per model on its latest upload, as CI does after deploying)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    changed = subparsers.add_parser("changed", help="the models whose folder (or the kit) changed since REF")
    changed.add_argument("ref", nargs="?", default="HEAD~1", help="a git ref (default HEAD~1)")
    changed.add_argument("--models-dir", type=Path, default=Path("models"))
    changed.set_defaults(func=cmd_changed)
    register_retrain(subparsers)


def cmd_changed(args: argparse.Namespace) -> int:
    from factory.changes import ChangesError, changed_models

    try:
        names = changed_models(Path.cwd(), args.ref, args.models_dir)
    except ChangesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name in names:
        print(name)
    return 0


def register_retrain(subparsers: argparse._SubParsersAction) -> None:
    retrain = subparsers.add_parser("retrain", help="start a run per model on its latest upload (CI, after deploy)")
    retrain.add_argument("models", nargs="+", help="the models to retrain (e.g. from `model-factory changed`)")
    retrain.add_argument("--url", required=True, help="the Functions app, e.g. https://<app>.azurewebsites.net")
    retrain.add_argument("--commit", required=True, help="the commit the models' code comes from (source_commit)")
    retrain.set_defaults(func=cmd_retrain)


def cmd_retrain(args: argparse.Namespace) -> int:
    """``POST /api/runs {"model", "data": "latest", "source_commit"}`` per model; the function key comes from
    ``FACTORY_FUNCTION_KEY`` (never an argument: it would show in process lists and CI logs)."""
    import os

    from cli.client import FactoryClient
    from factory.changes import retrain_key

    key = os.environ.get("FACTORY_FUNCTION_KEY", "")
    if not key:
        print("error: set FACTORY_FUNCTION_KEY to the app's function key", file=sys.stderr)
        return 2
    client = FactoryClient(args.url.rstrip("/"), key)
    failed = 0
    for model in args.models:
        status, body = client.start_run(model, "latest", idempotency_key=retrain_key(args.commit),
                                        source_commit=args.commit)
        if status == 202 and isinstance(body, dict):
            print(f"{model}: run {body.get('id')} started on its latest upload at {args.commit[:12]}")
        elif status == 404:
            print(f"{model}: no upload yet; nothing to retrain ({body})")
        else:
            failed += 1
            print(f"{model}: could not start a run ({status}): {body}", file=sys.stderr)
    return 1 if failed else 0
