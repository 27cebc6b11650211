"""Train: a small CNN (two 3x3 convolutions, a pooling, two dense layers) on the digit images with PyTorch
on the CPU, seeded; the best epoch on the validation set is exported to ONNX (fp32)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import onnx_artifact

EPOCHS = 15
BATCH = 64
SEED = 0


def build_net(classes: int = 10):
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, classes))


def fit(train: dict[str, np.ndarray], val: dict[str, np.ndarray], epochs: int = EPOCHS, seed: int = SEED):
    """The trained network (the weights of its best validation epoch) and that accuracy."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "2")))
    net = build_net()
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = torch.from_numpy(train["x"]), torch.from_numpy(train["y"])
    xv, yv = torch.from_numpy(val["x"]), torch.from_numpy(val["y"])
    generator = torch.Generator().manual_seed(seed)
    best, best_state = -1.0, None
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(x), generator=generator).split(BATCH):
            optimiser.zero_grad()
            loss_fn(net(x[idx]), y[idx]).backward()
            optimiser.step()
        net.eval()
        with torch.no_grad():
            accuracy = float((net(xv).argmax(1) == yv).float().mean())
        if accuracy > best:
            best, best_state = accuracy, {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    return net, best


def main(argv: list[str] | None = None) -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--model", type=Path, required=True, help="output folder: model.onnx + model.json (fp32)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args(argv)
    train, val = (dict(np.load(args.features / f"{n}.npz")) for n in ("train", "val"))
    labels = json.loads((args.features / "labels.json").read_text(encoding="utf-8"))
    net, val_accuracy = fit(train, val, args.epochs)
    args.model.mkdir(parents=True, exist_ok=True)
    onnx_artifact.export(net, torch.from_numpy(val["x"][:1]), args.model / onnx_artifact.MODEL_FILE)
    onnx_artifact.write_card(args.model, {
        "name": args.model_name, "task": "classification", "format": "onnx", "labels": labels,
        "input": {"name": "image", "shape": [1, 8, 8], "mode": "L", "scale": 1 / 255},
        "output": "logits", "precision": "fp32", "train_images": len(train["y"]),
        "val_accuracy": round(val_accuracy, 4), "epochs": args.epochs, "framework": f"torch {torch.__version__}"})
    print(f"train: {len(train['y'])} images, validation accuracy {val_accuracy:.4f}")


if __name__ == "__main__":
    main()
