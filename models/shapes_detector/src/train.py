"""Train: the grid detector (``detector.py``) with PyTorch on the CPU, seeded, with horizontal-flip
augmentation; the epoch with the best validation mAP@0.5 is exported to ONNX (fp32) with its decoding."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import detector
import metrics
import numpy as np
import onnx_artifact

EPOCHS = 15
# The serving decoder's score threshold (objectness × class probability): the trained model scores the serving
# check's shapes 0.50-0.83 and anything else at most 0.19 (measured); 0.3 keeps a margin on both sides.
SCORE_THRESHOLD = 0.3
BATCH = 32
SEED = 0


def _flip(x, t):
    """Mirror images and their targets left-right (the grid's columns and the x offsets)."""
    import torch

    box = t["box"].flip(-1).clone()
    box[:, 0] = torch.where(t["obj"].flip(-1) > 0, 1 - box[:, 0], box[:, 0])
    return x.flip(-1), {"obj": t["obj"].flip(-1), "cls": t["cls"].flip(-1), "box": box}


def fit(train: dict[str, np.ndarray], val: dict[str, np.ndarray], classes: int, epochs: int = EPOCHS,
        seed: int = SEED):
    """The trained network (best validation epoch) and its validation mAP@0.5."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "2")))
    net = detector.build_net(classes)
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    x = torch.from_numpy(train["x"])
    t = {k: torch.from_numpy(v) for k, v in detector.targets(train["boxes"], train["box_label"],
                                                              train["box_image"], len(x)).items()}
    generator = torch.Generator().manual_seed(seed)
    best, best_state = -1.0, None
    for epoch in range(epochs):
        net.train()
        for idx in torch.randperm(len(x), generator=generator).split(BATCH):
            xb, tb = x[idx], {k: v[idx] for k, v in t.items()}
            if epoch % 2:
                xb, tb = _flip(xb, tb)
            optimiser.zero_grad()
            detector.loss(net(xb), tb).backward()
            optimiser.step()
        if epoch >= epochs // 3 or epoch == epochs - 1:
            net.eval()
            with torch.no_grad():
                dense = detector.dense_module(net)(torch.from_numpy(val["x"])).numpy()
            score = metrics.map_at(dense, val, classes)["map_50"]
            if score > best:
                best, best_state = score, {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    net.eval()
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
    net, val_map = fit(train, val, len(labels), args.epochs)
    args.model.mkdir(parents=True, exist_ok=True)
    onnx_artifact.export(detector.dense_module(net), torch.from_numpy(val["x"][:1]),
                         args.model / onnx_artifact.MODEL_FILE, output_names=("dense",))
    onnx_artifact.write_card(args.model, {
        "name": args.model_name, "task": "object_detection", "format": "onnx", "labels": labels,
        "input": {"name": "image", "shape": [3, 64, 64], "mode": "RGB", "scale": 1 / 255}, "output": "dense",
        "decoder": {"score_threshold": SCORE_THRESHOLD, "iou_threshold": 0.45}, "precision": "fp32",
        "train_images": len(train["x"]), "val_map_50": round(val_map, 4), "epochs": args.epochs,
        "framework": f"torch {torch.__version__}"})
    print(f"train: {len(train['x'])} images, validation mAP@0.5 {val_map:.4f}")


if __name__ == "__main__":
    main()
