"""``model-factory dashboard``: a link that opens the local dashboard for 30 minutes, carrying no host key."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from factory import session
from localstack.stack import LocalStack


def dashboard_url(stack: LocalStack, path: str = "") -> str:
    """``<app>/api/dashboard/enter?t=<session token>``: the token is signed with the stack's signing key (what
    the app's session cookie holds), so the printed link opens the dashboard without the master key in it."""
    token = session.new_token(stack.settings_env()["APPROVAL_SIGNING_KEY"])
    tail = f"&next={session.PATH}{path}" if path else ""
    return f"{stack.base_url}{session.PATH}/enter?t={token}{tail}"


def cmd_dashboard(args: argparse.Namespace) -> int:
    from factory.stackcheck import STACK_DOWN, why_not

    stack = LocalStack(Path(args.state_dir))
    if (reason := why_not(stack)) is not None:
        print(reason, file=sys.stderr)
        return STACK_DOWN
    print(dashboard_url(stack))
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("dashboard", help="print a link that opens the dashboard (30 minutes)",
                                   description="print a link that opens the dashboard (30 minutes)")
    parser.add_argument("--state-dir", default=".factory", help="local stack state (default .factory)")
    parser.set_defaults(func=cmd_dashboard)
