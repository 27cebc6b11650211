"""Prep: unpack the uploaded ImageFolder archive and read every digit image into one array file."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import images
import numpy as np

LABELS = [str(d) for d in range(10)]


def prepare(upload: Path, dest: Path) -> int:
    """Write ``dest/images.npz`` (``x``: uint8 N×8×8, ``y``: digit) and ``labels.json``; returns N."""
    with tempfile.TemporaryDirectory(prefix="digits-prep-") as tmp:
        root = images.unpack(upload, Path(tmp))
        x, y, _ = images.read_image_folder(root, LABELS, "L")
    dest.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(dest / "images.npz", x=x, y=y)
    (dest / "labels.json").write_text(json.dumps(LABELS) + "\n", encoding="utf-8")
    return len(y)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the uploaded .zip (or a folder holding it)")
    parser.add_argument("--prepared", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    print(f"prep: {prepare(args.data, args.prepared)} images read")


if __name__ == "__main__":
    main()
