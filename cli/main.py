"""``model-factory``: the command line. Each module in ``cli.commands`` adds its own subcommands
through ``register(subparsers)``, and sets ``func`` on its parser to the callable that runs it."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import cli.commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="model-factory", description=(__doc__ or "").split("\n")[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(cli.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"cli.commands.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
