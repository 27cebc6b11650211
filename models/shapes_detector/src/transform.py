"""Transform: scale the images to [0, 1] floats (N×3×64×64) and split them, seeded, into train (70 %),
validation (15 %) and test (15 %) sets, each with its boxes."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

SEED = 7


def split(n: int, seed: int = SEED) -> dict[str, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_test = n_val = max(1, round(0.15 * n))
    return {"test": np.sort(order[:n_test]), "val": np.sort(order[n_test:n_test + n_val]),
            "train": np.sort(order[n_test + n_val:])}


def subset(data: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    """The images ``idx`` with their boxes (``box_image`` renumbered)."""
    position = {int(i): k for k, i in enumerate(idx)}
    keep = np.isin(data["box_image"], idx)
    return {"x": (data["x"][idx].astype(np.float32) / 255.0).transpose(0, 3, 1, 2),
            "boxes": data["boxes"][keep], "box_label": data["box_label"][keep],
            "box_image": np.asarray([position[int(i)] for i in data["box_image"][keep]], np.int64)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prepared", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True, help="output folder: train/val/test .npz")
    args = parser.parse_args(argv)
    data = dict(np.load(args.prepared / "images.npz"))
    args.features.mkdir(parents=True, exist_ok=True)
    for name, idx in split(len(data["x"])).items():
        part = subset(data, idx)
        np.savez_compressed(args.features / f"{name}.npz", **part)
        print(f"transform: {name} {len(idx)} images, {len(part['boxes'])} boxes")
    shutil.copy(args.prepared / "labels.json", args.features / "labels.json")


if __name__ == "__main__":
    main()
