"""The images scaffold's own files: model.yaml, a sample upload of drawn shapes (an ImageFolder .zip, the same
bytes on every run) and the serving check (one image per label, the label expected with probability > 0.5)."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import yaml

LABELS = ("circle", "square", "triangle")  # the template's src/prep.py LABELS
SIZE = 16
PER_LABEL = 100
FIXED_TIME = (2026, 1, 1, 0, 0, 0)


def draw(label: str, rng: np.random.Generator) -> bytes:
    """One ``SIZE``×``SIZE`` grey PNG: a light shape of random size (10 or 12 px) and place on a dark, noisy
    background (large and bright enough that the small CNN tells the three apart from 100 images each)."""
    from PIL import Image, ImageDraw

    noise = rng.normal(40, 8, size=(SIZE, SIZE)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(noise, mode="L")
    pen = ImageDraw.Draw(image)
    half = int(rng.integers(5, 7))
    cx, cy = (int(v) for v in rng.integers(half + 1, SIZE - half - 1, size=2))
    box = (cx - half, cy - half, cx + half, cy + half)
    shade = int(rng.integers(200, 256))
    if label == "circle":
        pen.ellipse(box, fill=shade)
    elif label == "square":
        pen.rectangle(box, fill=shade)
    else:
        pen.polygon([(cx, cy - half), (cx - half, cy + half), (cx + half, cy + half)], fill=shade)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def write_sample(dest: Path, per_label: int = PER_LABEL, seed: int = 7) -> Path:
    """The ImageFolder zip ``<label>/<index>.png``, sorted members, fixed times: the same bytes every run."""
    rng = np.random.default_rng(seed)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w") as zf:
        for label in LABELS:
            for index in range(per_label):
                info = zipfile.ZipInfo(f"{label}/{index:03d}.png", date_time=FIXED_TIME)
                info.external_attr = 0o644 << 16
                zf.writestr(info, draw(label, rng))
    return dest


def _model_yaml(name: str) -> str:
    spec = {"name": name, "description": f"{name}: an image classifier (scaffolded; describe what it reads).",
            "task": "classification", "environment": "onnx",
            "data": {"kind": "images", "sample": "data/sample.zip", "max_mb": 20, "max_members": 5000,
                     "max_uncompressed_mb": 50, "labels": list(LABELS), "min_per_label": 20,
                     "image": {"width": SIZE, "height": SIZE, "mode": "L"}},
            "artifact": {"format": "onnx", "fp16_tolerance": 0.01},
            "gate": {"metric": "accuracy", "max_regression_vs_production": 0.05,
                     "metrics": {"accuracy": {"direction": "maximize", "min": 0.8},
                                 "f1_macro": {"direction": "maximize", "min": 0.8}}},
            "evaluate": {"metrics": ["accuracy", "f1_macro", "accuracy_fp32", "accuracy_fp16", "fp16"]},
            "training": {"timeout_seconds": 1800}, "image": {"repository": f"models/{name.replace('_', '-')}"},
            "edge": {"poll_seconds": 5, "timeout_seconds": 600}}
    head = "# yaml-language-server: $schema=../../modelkit/schema/model.schema.json\n"
    return head + yaml.safe_dump(spec, sort_keys=False)


def write_images_model(folder: Path, name: str) -> None:
    """model.yaml, ``data/sample.zip`` and ``model/`` (sample request, expected response) of a new model."""
    (folder / "model.yaml").write_text(_model_yaml(name))
    write_sample(folder / "data" / "sample.zip")
    rng = np.random.default_rng(11)  # other images than the sample's
    request = {"input_data": {"columns": ["image"], "index": list(range(len(LABELS))),
                              "data": [base64.b64encode(draw(label, rng)).decode() for label in LABELS]}}
    expected = {"predictions": [{"label": label, "probabilities": {label: 1.0}} for label in LABELS],
                "tolerance": 0.5}
    (folder / "model").mkdir()
    (folder / "model" / "sample-request.json").write_text(json.dumps(request, indent=1) + "\n")
    (folder / "model" / "expected-response.json").write_text(json.dumps(expected) + "\n")
