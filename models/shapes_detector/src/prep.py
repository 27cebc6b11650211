"""Prep: unpack the uploaded archive and read its images and their boxes (Azure ML's JSONL annotations, the
kit's ``images.read_annotated``) into one array file: ``x`` uint8 N×64×64×3, and per box ``boxes``
(normalised corners), ``box_label``, ``box_image``; ``labels.json``."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import images
import numpy as np

LABELS = ["circle", "square", "triangle"]
ANNOTATIONS = "annotations.jsonl"
MODE = "RGB"
SIZE = 64


def prepare(upload: Path, dest: Path) -> tuple[int, int]:
    """Write ``dest/images.npz`` and ``labels.json``; returns (images, boxes)."""
    with tempfile.TemporaryDirectory(prefix="shapes-prep-") as tmp:
        data = images.read_annotated(images.unpack(upload, Path(tmp)), ANNOTATIONS, LABELS, MODE, (SIZE, SIZE))
    dest.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(dest / "images.npz", **data)
    (dest / "labels.json").write_text(json.dumps(LABELS) + "\n", encoding="utf-8")
    return len(data["x"]), len(data["boxes"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the uploaded .tar.gz / .zip (or a folder with it)")
    parser.add_argument("--prepared", type=Path, required=True, help="output folder")
    args = parser.parse_args()
    count, boxes = prepare(args.data, args.prepared)
    print(f"prep: {count} images, {boxes} boxes")
