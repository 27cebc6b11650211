"""``model-factory retry RUN``: start a run that ended again, on the same upload (a new run: its id derives
from the ended one, so retrying twice starts it once)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cli.client import FactoryClient
from localstack.stack import LocalStack


def cmd_retry(args: argparse.Namespace) -> int:
    from factory.stackcheck import STACK_DOWN, why_not

    stack = LocalStack(Path(args.state_dir))
    if (reason := why_not(stack)) is not None:
        print(reason, file=sys.stderr)
        return STACK_DOWN
    client = FactoryClient(stack.base_url, stack.function_key)
    run = client.summary(args.run_id)
    if run is None:
        print(f"no run {args.run_id}", file=sys.stderr)
        return 1
    if not run.has_ended:
        print(f"run {args.run_id} has not ended (stage: {run.current_stage or '?'}); nothing to retry",
              file=sys.stderr)
        return 1
    model, data = run.lineage.model, run.lineage.data_uri
    if not model or not data:
        print(f"run {args.run_id} records no model or upload to retry on", file=sys.stderr)
        return 1
    status, body = client.start_run(model, data, idempotency_key=f"retry-{args.run_id}",
                                    source_commit=run.lineage.source_commit or None)
    if status != 202 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else body
        print(f"run {args.run_id} could not be retried ({status}): {error}", file=sys.stderr)
        return 1
    print(f"run {args.run_id} retried as run {body['id']} on {data}; `model-factory status {body['id']}` follows it")
    return 0


def register(subparsers: Any) -> None:
    help_text = "start an ended run again on the same upload (e.g. its validated copy was lost)"
    parser = subparsers.add_parser("retry", help=help_text, description=help_text)
    parser.add_argument("run_id")
    parser.add_argument("--state-dir", default=".factory", help="local stack state (default .factory)")
    parser.set_defaults(func=cmd_retry)
