"""Evaluate: accuracy and macro F1 of the ONNX model on the test set, in fp32 and converted to fp16; the
fp16 model is kept only if its key metric is within ``--fp16_tolerance`` of fp32's (the seed's check),
otherwise fp32. Writes the chosen artifact (``model.json`` says which precision) and metrics.json (the
chosen model's metrics, each precision's key metric, and ``fp16``: 1 kept, 0 not); logs them with MLflow."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from image_classifier import choose
from onnx_artifact import write_metrics

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="the fp32 artifact")
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--fp16_tolerance", type=float, default=None)
    parser.add_argument("--key_metric", default="accuracy")
    parser.add_argument("--chosen", type=Path, required=True, help="output folder: the kept artifact")
    parser.add_argument("--metrics", type=Path, required=True, help="output folder: metrics.json")
    args = parser.parse_args()
    metrics = choose(args.model, dict(np.load(args.features / "test.npz")), args.fp16_tolerance, args.key_metric,
                     args.chosen)
    write_metrics(metrics, args.metrics)
    print("evaluate: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
