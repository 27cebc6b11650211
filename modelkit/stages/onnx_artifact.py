"""The ONNX artifact: export from PyTorch, fp16 conversion, the fp16-or-fp32 choice, and inference with
onnxruntime exactly as the serving image runs it.

Artifact folder: ``model.onnx`` and ``model.json`` (``name``, ``task``, ``format: onnx``, ``labels``,
``input`` ``{name, shape, mode}``, ``precision`` ``fp32|fp16`` and the metric of each precision).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

MODEL_FILE = "model.onnx"
CARD_FILE = "model.json"


def export(module: Any, example: Any, dest: Path, input_name: str = "image",
           output_names: tuple = ("logits",)) -> Path:
    """``torch.onnx.export`` (the TorchScript exporter, ``dynamo=False``) with a dynamic batch axis."""
    import torch

    module.eval()
    dest.parent.mkdir(parents=True, exist_ok=True)
    axes = {input_name: {0: "batch"}, **{name: {0: "batch"} for name in output_names}}
    with torch.no_grad():
        torch.onnx.export(module, (example,), str(dest), input_names=[input_name], output_names=list(output_names),
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    return dest


def to_fp16(source: Path, dest: Path) -> Path:
    """The fp16 version of an fp32 ONNX model (onnxconverter-common); inputs and outputs stay float32."""
    import onnx
    from onnxconverter_common import float16

    model = float16.convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    onnx.save(model, str(dest))
    return dest


def keep_fp16(metric_fp32: float, metric_fp16: float, tolerance: float | None, higher_is_better: bool = True) -> bool:
    """The seed's rule: keep the fp16 model only if its metric is at most ``tolerance`` worse than fp32's
    (no tolerance declared: never)."""
    if tolerance is None:
        return False
    worse = (metric_fp32 - metric_fp16) if higher_is_better else (metric_fp16 - metric_fp32)
    return worse <= tolerance


def session(path: Path, threads: int = 1) -> Any:
    """An onnxruntime session set up as the serving image sets it: one thread per op by default, sequential."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def run(sess: Any, x: np.ndarray, batch: int = 256) -> list[np.ndarray]:
    """Every output of ``sess`` for ``x`` (float32, batched)."""
    name = sess.get_inputs()[0].name
    chunks = [sess.run(None, {name: x[i:i + batch].astype(np.float32)}) for i in range(0, len(x), batch)]
    return [np.concatenate([c[k] for c in chunks]) for k in range(len(chunks[0]))]


def write_card(folder: Path, card: dict[str, Any]) -> None:
    (folder / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


def read_card(folder: Path) -> dict[str, Any]:
    return json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))


def choose(model_dir: Path, measure: Callable[[Path], dict[str, float]], tolerance: float | None, key: str,
           out: Path, higher_is_better: bool = True) -> dict[str, float]:
    """Measure the fp32 model and its fp16 conversion (``measure(model.onnx)`` → metrics), write the kept one to
    ``out`` (``model.json`` says which precision); returns the kept model's metrics, each precision's key
    metric and ``fp16`` (1 kept, 0 not)."""
    card = read_card(model_dir)
    fp32 = measure(model_dir / MODEL_FILE)
    with tempfile.TemporaryDirectory(prefix="fp16-") as tmp:
        fp16_file = to_fp16(model_dir / MODEL_FILE, Path(tmp) / MODEL_FILE)
        fp16 = measure(fp16_file)
        kept = keep_fp16(fp32[key], fp16[key], tolerance, higher_is_better)
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fp16_file if kept else model_dir / MODEL_FILE, out / MODEL_FILE)
    write_card(out, {**card, "precision": "fp16" if kept else "fp32", "fp16_tolerance": tolerance,
                     f"{key}_fp32": fp32[key], f"{key}_fp16": fp16[key]})
    return {**(fp16 if kept else fp32), f"{key}_fp32": fp32[key], f"{key}_fp16": fp16[key],
            "fp16": 1.0 if kept else 0.0}


def write_metrics(metrics: dict[str, float], folder: Path) -> None:
    """``folder/metrics.json``, and the metrics logged to the pipeline's MLflow run when there is one."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    if os.environ.get("MLFLOW_TRACKING_URI"):
        import mlflow

        with mlflow.start_run():  # the pipeline's run (MLFLOW_RUN_ID) on the local runner and on Azure ML
            mlflow.log_metrics(metrics)
