"""``model-factory``: the command line. Each module in ``cli.commands`` adds its own subcommands
through ``register(subparsers)``, and sets ``func`` on its parser to the callable that runs it."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import urllib.error

import cli.commands

DESCRIPTION = """Model Factory: turns the models in models/<name>/ into verified, edge-tested, approved container
images. Locally it also runs the data scientist's inner loop, on the laptop, in seconds, with no stack."""

EPILOG = """the inner loop (docs/adding-a-model.md):
  model-factory new NAME --task classification   scaffold a folder that trains and passes its tests
  model-factory check NAME                       model.yaml, pipeline, environments, sample data, the serving
                                                 contract and the gate's metrics, without training
  model-factory train NAME                       its pipeline on its sample; ends with the gate's verdict
  model-factory versions NAME                    local versions: metrics, stage, artifact path
  model-factory try NAME                         serve a version as its image does; answer the sample request

the factory (docs/ and README.md): up, run, status, approve, logs, down

Run `model-factory COMMAND --help` for a command's options."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="model-factory", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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
    except (ConnectionError, urllib.error.URLError, TimeoutError) as exc:  # a service stopped answering meanwhile
        reason = getattr(exc, "reason", None) or exc
        print(f"error: the local stack did not answer ({reason}); is it running? `model-factory up` starts it",
              file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001: no traceback reaches a user; FACTORY_DEBUG=1 shows it
        if os.environ.get("FACTORY_DEBUG"):
            raise
        print(f"error: {type(exc).__name__}: {exc}".splitlines()[0][:500], file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
