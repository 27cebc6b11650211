"""``model-factory verify REF``: print an image's chain (signature key id, provenance, verification, SBOM,
approval) and exit 1 naming the first broken link."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from factory.ports import SigningKeyError
from factory.supplychain.chain import render, verify


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify", help="check an image's signature and attestations (its chain from data to approval)",
        description="check an image's signature and attestations (its chain from data to approval)")
    parser.add_argument("ref", help="registry/repository:tag or registry/repository@sha256:...")
    parser.add_argument("--key", type=Path,
                        help="the factory's public key (PEM); default: the local stack's (.factory/keys/signing.pub)")
    parser.add_argument("--state-dir", default=".factory", help="local stack state (default .factory)")
    parser.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    key = args.key or Path(args.state_dir) / "keys" / "signing.pub"
    try:
        public = key.read_bytes()
    except OSError as exc:
        print(f"verify: public key {key}: {exc.strerror} (model-factory up makes the key pair; --key names another)",
              file=sys.stderr)
        return 2
    try:
        report = verify(args.ref, public)
    except (SigningKeyError, ValueError) as exc:
        print(f"verify: public key {key}: {exc}", file=sys.stderr)
        return 2
    print(render(report))
    return 0 if report.ok else 1
