"""Prep: unpack the uploaded ImageFolder archive (``<label>/<name>.png``) into one array file (change LABELS
and MODE for your data; model.yaml's data.labels and data.image must agree)."""

import argparse
from pathlib import Path

import image_classifier

LABELS = ["circle", "square", "triangle"]
MODE = "L"  # the Pillow mode the model reads: L (grey) or RGB


def prepare(upload: Path, dest: Path) -> int:
    return image_classifier.prepare(upload, dest, LABELS, MODE)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="the uploaded .zip or .tar.gz")
    parser.add_argument("--prepared", type=Path, required=True)
    args = parser.parse_args()
    print(f"prep: {prepare(args.data, args.prepared)} images read")
