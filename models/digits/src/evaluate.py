"""Evaluate: accuracy and macro F1 of the ONNX model on the test set, in fp32 and converted to fp16; the
fp16 model is kept only if its key metric is within ``--fp16_tolerance`` of fp32's (the seed's check),
otherwise fp32. Writes the chosen artifact (``model.json`` says which precision) and metrics.json (the
chosen model's metrics, each precision's key metric, and ``fp16``: 1 kept, 0 not); logs them with MLflow."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnx_artifact


def classification_metrics(truth: np.ndarray, predicted: np.ndarray, classes: int) -> dict[str, float]:
    """Accuracy and macro F1 (numpy only)."""
    f1s = []
    for c in range(classes):
        tp = float(np.sum((predicted == c) & (truth == c)))
        fp = float(np.sum((predicted == c) & (truth != c)))
        fn = float(np.sum((predicted != c) & (truth == c)))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return {"accuracy": float(np.mean(truth == predicted)), "f1_macro": float(np.mean(f1s))}


def metrics_of(model_file: Path, test: dict[str, np.ndarray], classes: int) -> dict[str, float]:
    (logits,) = onnx_artifact.run(onnx_artifact.session(model_file), test["x"])
    return classification_metrics(test["y"], logits.argmax(axis=1), classes)


def choose(model_dir: Path, test: dict[str, np.ndarray], tolerance: float | None, key: str, out: Path,
           higher_is_better: bool = True) -> dict[str, float]:
    """Evaluate fp32 and fp16, write the kept artifact to ``out``; returns the metrics."""
    card = onnx_artifact.read_card(model_dir)
    classes = len(card["labels"])
    fp32 = metrics_of(model_dir / onnx_artifact.MODEL_FILE, test, classes)
    with tempfile.TemporaryDirectory(prefix="fp16-") as tmp:
        fp16_file = onnx_artifact.to_fp16(model_dir / onnx_artifact.MODEL_FILE, Path(tmp) / "model.onnx")
        fp16 = metrics_of(fp16_file, test, classes)
        kept = onnx_artifact.keep_fp16(fp32[key], fp16[key], tolerance, higher_is_better)
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fp16_file if kept else model_dir / onnx_artifact.MODEL_FILE, out / onnx_artifact.MODEL_FILE)
    chosen = fp16 if kept else fp32
    onnx_artifact.write_card(out, {**card, "precision": "fp16" if kept else "fp32", "fp16_tolerance": tolerance,
                                   f"{key}_fp32": fp32[key], f"{key}_fp16": fp16[key]})
    return {**chosen, f"{key}_fp32": fp32[key], f"{key}_fp16": fp16[key], "fp16": 1.0 if kept else 0.0}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="the fp32 artifact")
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--fp16_tolerance", type=float, default=None)
    parser.add_argument("--key_metric", default="accuracy")
    parser.add_argument("--chosen", type=Path, required=True, help="output folder: the kept artifact")
    parser.add_argument("--metrics", type=Path, required=True, help="output folder: metrics.json")
    args = parser.parse_args(argv)
    test = dict(np.load(args.features / "test.npz"))
    metrics = choose(args.model, test, args.fp16_tolerance, args.key_metric, args.chosen)
    args.metrics.mkdir(parents=True, exist_ok=True)
    (args.metrics / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    if os.environ.get("MLFLOW_TRACKING_URI"):
        import mlflow

        with mlflow.start_run():  # the pipeline's run (MLFLOW_RUN_ID) on the local runner and on Azure ML
            mlflow.log_metrics(metrics)
    print("evaluate: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))


if __name__ == "__main__":
    main()
