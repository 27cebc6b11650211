"""Train: the kit's small CNN with PyTorch on the CPU, exported to ONNX fp32 (change the network for yours)."""

import argparse
import json
from pathlib import Path

import image_classifier
import numpy as np
from prep import MODE

EPOCHS = 20

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args()
    train, val = (dict(np.load(args.features / f"{n}.npz")) for n in ("train", "val"))
    classes = len(json.loads((args.features / "labels.json").read_text()))
    net = image_classifier.small_cnn(*train["x"].shape[1:], classes)
    net, accuracy = image_classifier.fit(net, train, val, args.epochs)
    image_classifier.export(net, args.features, args.model, args.model_name, MODE, {"epochs": args.epochs})
    print(f"train: {len(train['y'])} images, validation accuracy {accuracy:.4f}")
