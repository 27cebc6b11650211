"""``model-factory rollout pause|resume|abort RUN``: a person's control of a run's fleet rollout, through the same
signed links the app hands out (abort = roll back to the previous version)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cli.client import FactoryClient, page_text, post_link
from contract import CONTROL_ACTIONS
from localstack.stack import LocalStack

DEFAULT_STATE = Path(".factory")


def cmd_rollout(args: argparse.Namespace) -> int:
    stack = LocalStack(Path(args.state_dir))
    links = FactoryClient(stack.base_url, stack.function_key).rollout_links(args.run_id)
    if not links:
        print(f"run {args.run_id} has no running fleet rollout", file=sys.stderr)
        return 1
    status, page = post_link(links[args.action])
    print(f"HTTP {status} {page_text(page)}")
    return 0 if status in (200, 202) else 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("rollout", help="pause, resume or abort a run's fleet rollout",
                                   description="pause, resume or abort (= roll back) a run's fleet rollout")
    parser.add_argument("action", choices=CONTROL_ACTIONS)
    parser.add_argument("run_id")
    parser.add_argument("--state-dir", default=str(DEFAULT_STATE), help="local stack state (default .factory)")
    parser.set_defaults(func=cmd_rollout)
