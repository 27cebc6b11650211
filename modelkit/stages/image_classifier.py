"""The kit's image classification stages: an ImageFolder upload to an ONNX classifier, fp16 kept within the
model's tolerance. A model's stage programs (``prep``, ``transform``, ``train``, ``evaluate``, ``score``) call
these with what is its own (labels, image mode, network); ``images`` and ``onnx_artifact`` do the I/O.

Folders between the steps: ``prepared/images.npz`` (``x`` uint8 N×H×W[×C], ``y`` label index) and
``labels.json``; ``features/{train,val,test}.npz`` (``x`` float32 N×C×H×W in [0, 1]) and ``labels.json``;
the artifact folder (``model.onnx`` + ``model.json``); ``metrics/metrics.json``; ``scores/``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import images
import numpy as np
import onnx_artifact

SEED = 7


def prepare(upload: Path, dest: Path, labels: list[str], mode: str) -> int:
    """Write ``dest/images.npz`` and ``dest/labels.json`` from the uploaded archive; returns the image count."""
    with tempfile.TemporaryDirectory(prefix="kit-prep-") as tmp:
        root = images.unpack(upload, Path(tmp))
        x, y, _ = images.read_image_folder(root, labels, mode)
    dest.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(dest / "images.npz", x=x, y=y)
    (dest / "labels.json").write_text(json.dumps(labels) + "\n", encoding="utf-8")
    return len(y)


def split(y: np.ndarray, seed: int = SEED) -> dict[str, np.ndarray]:
    """Indices of the train (70 %) / val (15 %) / test (15 %) sets, stratified per label, seeded."""
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
    """uint8 N×H×W (grey) or N×H×W×C → float32 N×C×H×W in [0, 1] (what the ONNX model takes)."""
    scaled = x.astype(np.float32) / 255.0
    return scaled[:, None, :, :] if scaled.ndim == 3 else np.transpose(scaled, (0, 3, 1, 2))


def transform(prepared: Path, features: Path, seed: int = SEED) -> dict[str, int]:
    """Scale and split ``prepared`` into ``features``; returns each set's size."""
    data = np.load(prepared / "images.npz")
    x, y = to_tensor(data["x"]), data["y"]
    features.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for name, idx in split(y, seed).items():
        np.savez_compressed(features / f"{name}.npz", x=x[idx], y=y[idx])
        sizes[name] = len(idx)
    shutil.copy(prepared / "labels.json", features / "labels.json")
    return sizes


def small_cnn(channels: int, height: int, width: int, classes: int):
    """Two 3×3 convolutions, a 2×2 pooling, two dense layers: small enough to train on two cores."""
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * (height // 2) * (width // 2), 64), nn.ReLU(), nn.Linear(64, classes))


def fit(net: Any, train: dict[str, np.ndarray], val: dict[str, np.ndarray], epochs: int, seed: int = 0,
        batch: int = 64, lr: float = 3e-3) -> tuple[Any, float]:
    """Train ``net`` (Adam, cross-entropy, seeded; ``TRAIN_THREADS`` threads, default 2); returns it with the
    weights of its best validation epoch, and that accuracy."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "2")))
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = torch.from_numpy(train["x"]), torch.from_numpy(train["y"])
    xv, yv = torch.from_numpy(val["x"]), torch.from_numpy(val["y"])
    generator = torch.Generator().manual_seed(seed)
    best, best_state = -1.0, None
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(x), generator=generator).split(batch):
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


def export(net: Any, features: Path, model: Path, name: str, mode: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Write ``model/model.onnx`` (fp32) and its ``model.json`` for the classifier ``net``; returns the card."""
    import torch

    example = np.load(features / "val.npz")["x"][:1]
    labels = json.loads((features / "labels.json").read_text(encoding="utf-8"))
    model.mkdir(parents=True, exist_ok=True)
    onnx_artifact.export(net, torch.from_numpy(example), model / onnx_artifact.MODEL_FILE)
    card = {"name": name, "task": "classification", "format": "onnx", "labels": labels,
            "input": {"name": "image", "shape": list(example.shape[1:]), "mode": mode, "scale": 1 / 255},
            "output": "logits", "precision": "fp32", **extra, "framework": f"torch {torch.__version__}"}
    onnx_artifact.write_card(model, card)
    return card


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
    """Evaluate fp32 and fp16 on ``test``, write the kept artifact to ``out`` (``model.json`` says which
    precision); returns the kept model's metrics, each precision's key metric and ``fp16`` (1 kept, 0 not)."""
    classes = len(onnx_artifact.read_card(model_dir)["labels"])
    return onnx_artifact.choose(model_dir, lambda file: metrics_of(file, test, classes), tolerance, key, out,
                                higher_is_better)


def score(model: Path, features: Path, scores: Path, label_column: str = "label") -> dict[str, float]:
    """Batch-score the test set one image at a time, as the serving image will (onnxruntime, one thread);
    writes ``predictions.csv`` and ``summary.json`` (the register stage requires them); returns the summary."""
    test = dict(np.load(features / "test.npz"))
    classes = len(onnx_artifact.read_card(model)["labels"])
    sess = onnx_artifact.session(model / onnx_artifact.MODEL_FILE)
    started = time.perf_counter()
    (logits,) = onnx_artifact.run(sess, test["x"], batch=1)
    seconds = time.perf_counter() - started
    if logits.shape != (len(test["y"]), classes) or not np.all(np.isfinite(logits)):
        raise SystemExit(f"score: the model gave shape {logits.shape} or non-finite values")
    scores.mkdir(parents=True, exist_ok=True)
    lines = [f"prediction,{label_column}"] + [f"{p},{t}" for p, t in zip(logits.argmax(1), test["y"], strict=True)]
    (scores / "predictions.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = {"rows": len(test["y"]), "seconds": round(seconds, 4),
               "ms_per_image": round(1000 * seconds / len(test["y"]), 4)}
    (scores / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
