"""Evaluate: accuracy and macro F1 in fp32 and fp16; fp16 is kept only within the model's tolerance."""

import argparse
from pathlib import Path

import image_classifier
import numpy as np
import onnx_artifact

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--fp16_tolerance", type=float, default=None)
    parser.add_argument("--key_metric", default="accuracy")
    parser.add_argument("--chosen", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    args = parser.parse_args()
    test = dict(np.load(args.features / "test.npz"))
    metrics = image_classifier.choose(args.model, test, args.fp16_tolerance, args.key_metric, args.chosen)
    onnx_artifact.write_metrics(metrics, args.metrics)
    print("evaluate: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
