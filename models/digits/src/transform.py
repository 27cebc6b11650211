"""Transform: scale the images to [0, 1] floats (N×1×8×8) and split them, stratified and seeded, into
train (70 %), validation (15 %) and test (15 %) sets."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

SEED = 7


def split(y: np.ndarray, seed: int = SEED) -> dict[str, np.ndarray]:
    """Indices of the train / val / test sets, stratified per label."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_val = n_test = max(1, round(0.15 * len(idx)))
        parts["test"] += idx[:n_test].tolist()
        parts["val"] += idx[n_test:n_test + n_val].tolist()
        parts["train"] += idx[n_test + n_val:].tolist()
    return {k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in parts.items()}


def to_tensor(x: np.ndarray) -> np.ndarray:
    """uint8 N×H×W → float32 N×1×H×W in [0, 1] (what the ONNX model takes)."""
    return (x.astype(np.float32) / 255.0)[:, None, :, :]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prepared", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True, help="output folder: train/val/test .npz")
    args = parser.parse_args(argv)
    data = np.load(args.prepared / "images.npz")
    x, y = to_tensor(data["x"]), data["y"]
    args.features.mkdir(parents=True, exist_ok=True)
    for name, idx in split(y).items():
        np.savez_compressed(args.features / f"{name}.npz", x=x[idx], y=y[idx])
        print(f"transform: {name} {len(idx)} images")
    shutil.copy(args.prepared / "labels.json", args.features / "labels.json")


if __name__ == "__main__":
    main()
