"""`python -m devhost`: what `func start` does for a Python v2 app, on this machine."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .server import DevHost


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    p.add_argument("--port", type=int, default=7071, help="HTTP port (default 7071, as func start)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--app-dir", default=".", help="directory holding host.json, local.settings.json and the app")
    p.add_argument("--app-module", default="function_app",
                   help="module imported from --app-dir only; its one module-level FunctionApp/DFApp is the app")
    p.add_argument("--state-dir", default=".factory/devhost", help="SQLite state and dead letters")
    p.add_argument("--subscriptions", default="infra/eventgrid-subscriptions.json",
                   help="Event Grid subscriptions file (relative to --app-dir unless absolute)")
    p.add_argument("--workers", type=int, default=None,
                   help="activity worker threads (default: host.json maxConcurrentActivityFunctions, else 4)")
    p.add_argument("--log-file", default=None, help="also write the log to this file")
    p.add_argument("--full-replay", action="store_true",
                   help="replay every episode from the whole history through the orchestrator's user function "
                        "(no in-memory sessions)")
    p.add_argument("--sync", choices=["NORMAL", "FULL"], default="NORMAL",
                   help="SQLite synchronous mode: NORMAL survives process crashes (kill -9); FULL also power loss")
    p.add_argument("--eventgrid-max-attempts", type=int, default=None,
                   help="topic deliveries: attempts before dead-lettering (default: the subscriptions file's "
                        "delivery.maxDeliveryAttempts, else 5)")
    p.add_argument("--eventgrid-first-retry", type=float, default=0.5,
                   help="topic deliveries: first retry delay in seconds, doubled per attempt (default 0.5)")
    p.add_argument("--auth", choices=["keys", "off"], default="keys",
                   help="HTTP triggers: enforce function/admin keys (keys, the default) or not (off, as func start "
                        "does locally); the Durable API and Event Grid webhooks always need their system keys")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if args.log_file:
        handlers.append(logging.FileHandler(args.log_file))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=handlers,
                        format="%(asctime)s %(levelname)s %(message)s")
    host = DevHost(app_dir=args.app_dir, app_module=args.app_module, state_dir=args.state_dir, port=args.port,
                   host=args.host, subscriptions=args.subscriptions, workers=args.workers,
                   full_replay=args.full_replay, synchronous=args.sync,
                   eventgrid_max_attempts=args.eventgrid_max_attempts, eventgrid_first_retry=args.eventgrid_first_retry,
                   auth=args.auth)
    host.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    host.stop()
    logging.shutdown()
    # Activities still running are abandoned, not awaited: their work rows stay in the database and run again at
    # the next start (at-least-once), so there is nothing to wait for.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
