"""Subcommands of ``model-factory``: one module per group, each with ``register(subparsers)``."""
