"""Verify data: the first stage of every pipeline. Hashes the run's data and refuses to go on unless it is the
sha256 the factory validated (and pinned); passes the verified bytes on as this stage's output, so every later
stage reads what was checked, on Azure ML as locally."""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
from pathlib import Path

SHA256 = re.compile(r"^[0-9a-f]{64}$")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(data: Path, expected: str | None, out: Path) -> str:
    """Copy ``data`` to ``out`` when its sha256 is ``expected`` (or when none is expected); returns the hash.
    ``SystemExit`` with the reason otherwise, before anything is written."""
    if not data.is_file():
        raise SystemExit(f"verify_data: {data}: not a file; the pipeline's data input must be a uri_file")
    if expected and not SHA256.match(expected):
        raise SystemExit(f"verify_data: --sha256 {expected[:80]!r}: expected 64 lower-case hex digits")
    actual = sha256_of(data)
    if expected and actual != expected:
        raise SystemExit(f"verify_data: {data.name}: sha256 {actual} is not the validated {expected}; the data "
                         "changed after validation and is not trained")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    shutil.copyfile(data, tmp)
    if sha256_of(tmp) != actual:  # the source changed while it was copied
        tmp.unlink()
        raise SystemExit(f"verify_data: {data.name}: changed while it was copied; not trained")
    tmp.replace(out)
    return actual


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--sha256", default=None, help="the validated bytes' sha256 (the factory's pin)")
    parser.add_argument("--verified", type=Path, required=True, help="output file: the verified data")
    args = parser.parse_args(argv)
    actual = verify(args.data, args.sha256, args.verified)
    state = "matches the validated sha256" if args.sha256 else "no sha256 given: NOT verified against a pin"
    print(f"verify_data: {args.data.name} sha256 {actual}: {state}", file=sys.stderr)


if __name__ == "__main__":
    main()
