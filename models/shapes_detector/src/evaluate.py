"""Evaluate: mAP@0.5 (and AP per shape) of the ONNX detector on the test set, in fp32 and converted to fp16;
the fp16 model is kept only if its mAP is within ``--fp16_tolerance`` of fp32's (the seed's check, the kit's
``onnx_artifact.choose``), otherwise fp32. Writes the chosen artifact (``model.json`` says which precision)
and metrics.json (the kept model's metrics, each precision's mAP, and ``fp16``: 1 kept, 0 not)."""

from __future__ import annotations

import argparse
from pathlib import Path

import metrics as detection
import numpy as np
import onnx_artifact


def metrics_of(model_file: Path, test: dict[str, np.ndarray], labels: list[str]) -> dict[str, float]:
    """mAP@0.5 and ``ap_<label>`` of one ONNX file on ``test``."""
    (dense,) = onnx_artifact.run(onnx_artifact.session(model_file), test["x"])
    found = detection.map_at(dense, test, len(labels))
    return {"map_50": found["map_50"], **{f"ap_{labels[int(k[3:])]}": v for k, v in found.items() if k != "map_50"}}


def choose(model_dir: Path, test: dict[str, np.ndarray], tolerance: float | None, key: str,
           out: Path) -> dict[str, float]:
    """Evaluate fp32 and fp16, write the kept artifact to ``out``; returns the metrics."""
    labels = onnx_artifact.read_card(model_dir)["labels"]
    return onnx_artifact.choose(model_dir, lambda file: metrics_of(file, test, labels), tolerance, key, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="the fp32 artifact")
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--fp16_tolerance", type=float, default=None)
    parser.add_argument("--key_metric", default="map_50")
    parser.add_argument("--chosen", type=Path, required=True, help="output folder: the kept artifact")
    parser.add_argument("--metrics", type=Path, required=True, help="output folder: metrics.json")
    args = parser.parse_args()
    found = choose(args.model, dict(np.load(args.features / "test.npz")), args.fp16_tolerance, args.key_metric,
                   args.chosen)
    onnx_artifact.write_metrics(found, args.metrics)
    print("evaluate: " + ", ".join(f"{k}={v:.4f}" for k, v in found.items()))
