"""Prep: unpack the uploaded ImageFolder archive and read every digit image into one array file
(``images.npz``: ``x`` uint8 N×8×8, ``y`` the digit; ``labels.json``)."""

from __future__ import annotations

import argparse
from pathlib import Path

import image_classifier

LABELS = [str(d) for d in range(10)]
MODE = "L"


def prepare(upload: Path, dest: Path) -> int:
    return image_classifier.prepare(upload, dest, LABELS, MODE)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the uploaded .zip (or a folder holding it)")
    parser.add_argument("--prepared", type=Path, required=True, help="output folder")
    args = parser.parse_args()
    print(f"prep: {prepare(args.data, args.prepared)} images read")
