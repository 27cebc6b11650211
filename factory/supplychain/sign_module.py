"""Sign one of the factory's own IoT Edge module images (the fleet reporter) with the factory's key, as promotion
signs a model's image, so the rollout's signature check (``RolloutService(image_check=...)``) accepts it.

``python -m factory.supplychain.sign_module REGISTRY/REPOSITORY@sha256:<hex>`` with the app's settings in the
environment: ``FACTORY_BACKEND=azure`` signs with the Key Vault key into the dev or prod ACR (the signer and
registry adapters the Function App uses, under the caller's Azure credentials); locally the stack's key and
registry (the local fleet hub signs its reporter itself). Prints the reference to set as
``FACTORY_FLEET_REPORTER_IMAGE``. Idempotent: a signature already there is kept.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from factory import ports
from factory.supplychain.chain import parse_reference
from factory.supplychain.cosign import SignerLike, sign_image
from factory.supplychain.oci import OciError


def sign_module(image: str, signer: SignerLike, artifacts: Callable[[str], ports.ArtifactStore]) -> bool:
    """Add the factory's signature of ``image`` (pinned by digest) in its registry; False when it was there."""
    host, repository, _tag, digest = parse_reference(image)
    if not digest:
        raise ValueError(f"{image}: expected an image pinned by digest (registry/repository@sha256:<64 hex>)")
    return sign_image(artifacts(host), repository, digest, signer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("image", help="registry/repository@sha256:<hex>, e.g. the fleet reporter in the prod ACR")
    args = parser.parse_args(argv)
    from factory.backends import services

    svc = services()
    try:
        added = sign_module(args.image, svc.signer, svc.image_registry.artifacts)
    except (ValueError, ports.SigningKeyError, OciError, OSError) as exc:  # bad reference, no key, no registry
        print(f"sign_module: {exc}", file=sys.stderr)
        return 2
    print(args.image)
    print("signed" if added else "already signed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
