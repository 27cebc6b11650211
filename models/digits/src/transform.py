"""Transform: scale the digits to [0, 1] floats (N×1×8×8) and split them, stratified and seeded, into train
(70 %), validation (15 %) and test (15 %) sets (the kit's image_classifier)."""

from __future__ import annotations

import argparse
from pathlib import Path

from image_classifier import split, to_tensor, transform  # noqa: F401 - split, to_tensor: the notebook's

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prepared", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True, help="output folder: train/val/test .npz")
    args = parser.parse_args()
    print(f"transform: {transform(args.prepared, args.features)}")
