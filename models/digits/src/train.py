"""Train: the kit's small CNN (two 3x3 convolutions, a pooling, two dense layers) on the 8x8 digits with
PyTorch on the CPU, seeded; the best epoch on the validation set is exported to ONNX (fp32)."""

from __future__ import annotations

import argparse
from pathlib import Path

import image_classifier
import numpy as np
from prep import LABELS, MODE

EPOCHS = 15


def fit(train: dict[str, np.ndarray], val: dict[str, np.ndarray], epochs: int = EPOCHS):
    """The trained network (the weights of its best validation epoch) and that accuracy."""
    return image_classifier.fit(image_classifier.small_cnn(1, 8, 8, len(LABELS)), train, val, epochs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--model", type=Path, required=True, help="output folder: model.onnx + model.json (fp32)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args()
    train, val = (dict(np.load(args.features / f"{n}.npz")) for n in ("train", "val"))
    net, accuracy = fit(train, val, args.epochs)
    image_classifier.export(net, args.features, args.model, args.model_name, MODE, {
        "train_images": len(train["y"]), "val_accuracy": round(accuracy, 4), "epochs": args.epochs})
    print(f"train: {len(train['y'])} images, validation accuracy {accuracy:.4f}")
