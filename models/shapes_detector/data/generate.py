"""Seeded generator of a small object-detection dataset: circles, squares and triangles drawn on noisy
backgrounds, with their boxes known exactly.

``python models/shapes_detector/data/generate.py [--images N] [--seed S] [--out PATH] [--serving FOLDER]``;
the committed sample ``shapes.tar.gz`` is ``--images 480 --seed 11``, and ``--serving
models/shapes_detector/model`` writes the serving check (three images, one shape of each label, their true
boxes expected). Each image is a 64x64 RGB JPEG ``images/<n>.jpg`` holding one to three shapes;
``annotations.jsonl`` has one line per image in Azure ML's JSONL format for object detection (``image_url``,
``image_details``, ``label``: ``[{label, topX, topY, bottomX, bottomY, isCrowd}]``, coordinates normalised to
[0, 1]). The same seed always gives the same bytes.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

LABELS = ("circle", "square", "triangle")
SIZE = 64


def _overlaps(box: tuple[int, int, int, int], others: list[tuple[int, int, int, int]]) -> bool:
    x0, y0, x1, y1 = box
    return any(x0 < b[2] + 2 and b[0] < x1 + 2 and y0 < b[3] + 2 and b[1] < y1 + 2 for b in others)


def _shape(draw: ImageDraw.ImageDraw, label: str, box: tuple[int, int, int, int], base: np.ndarray,
           rng: np.random.Generator) -> dict:
    """Draw one shape filling ``box`` in a colour far from the background's; returns its annotation."""
    colour = tuple(int(c) for c in (255 - base + rng.integers(-30, 30, size=3)) % 256)
    if label == "circle":
        draw.ellipse(box, fill=colour)
    elif label == "square":
        draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=colour)
    else:
        draw.polygon([((box[0] + box[2]) / 2, box[1]), (box[0], box[3] - 1), (box[2] - 1, box[3] - 1)], fill=colour)
    return {"label": label, "topX": box[0] / SIZE, "topY": box[1] / SIZE, "bottomX": box[2] / SIZE,
            "bottomY": box[3] / SIZE, "isCrowd": 0}


def _background(rng: np.random.Generator) -> tuple[Image.Image, np.ndarray]:
    base = rng.integers(40, 200, size=3)
    noise = rng.normal(0, 18, size=(SIZE, SIZE, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), mode="RGB"), base


def draw_image(rng: np.random.Generator) -> tuple[Image.Image, list[dict]]:
    """One image and its boxes (pixel boxes normalised to [0, 1])."""
    image, base = _background(rng)
    draw = ImageDraw.Draw(image)
    boxes: list[tuple[int, int, int, int]] = []
    labels: list[dict] = []
    for _ in range(int(rng.integers(1, 4))):
        for _attempt in range(20):
            side = int(rng.integers(14, 28))
            x0, y0 = int(rng.integers(0, SIZE - side)), int(rng.integers(0, SIZE - side))
            box = (x0, y0, x0 + side, y0 + side)
            if not _overlaps(box, boxes):
                break
        else:
            continue
        boxes.append(box)
        label = LABELS[int(rng.integers(0, len(LABELS)))]
        labels.append(_shape(draw, label, box, base, rng))
    return image, labels


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tf.addfile(info, io.BytesIO(data))


def write_dataset(dest: Path, images: int = 480, seed: int = 11) -> Path:
    """Write ``images`` images and their annotations as a .tar.gz to ``dest``."""
    rng = np.random.default_rng(seed)
    lines = []
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for index in range(images):
            image, labels = draw_image(rng)
            out = io.BytesIO()
            image.save(out, format="JPEG", quality=92)
            name = f"images/{index:04d}.jpg"
            _add(tf, name, out.getvalue())
            lines.append({"image_url": name, "image_details": {"format": "jpg", "width": SIZE, "height": SIZE},
                          "label": labels})
        _add(tf, "annotations.jsonl", "".join(json.dumps(line) + "\n" for line in lines).encode())
    with dest.open("wb") as handle, gzip.GzipFile(fileobj=handle, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return dest


def write_serving_check(folder: Path, seed: int = 5, tolerance: float = 0.1) -> Path:
    """``sample-request.json`` (one JPEG per label, one shape each, base64, Azure ML's image request) and
    ``expected-response.json`` (each image's true box, coordinates within ``tolerance``) in ``folder``."""
    rng = np.random.default_rng(seed)
    data, predictions = [], []
    for label in LABELS:
        image, base = _background(rng)
        side = int(rng.integers(20, 28))
        x0, y0 = (int(v) for v in rng.integers(4, SIZE - side - 4, size=2))
        truth = _shape(ImageDraw.Draw(image), label, (x0, y0, x0 + side, y0 + side), base, rng)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=92)
        data.append(base64.b64encode(out.getvalue()).decode("ascii"))
        predictions.append({"boxes": [{"label": label, "box": {k: truth[k] for k in
                                                               ("topX", "topY", "bottomX", "bottomY")}}]})
    request = {"input_data": {"columns": ["image"], "index": list(range(len(data))), "data": data}}
    (folder / "sample-request.json").write_text(json.dumps(request) + "\n", encoding="utf-8")
    (folder / "expected-response.json").write_text(
        json.dumps({"predictions": predictions, "tolerance": tolerance}) + "\n", encoding="utf-8")
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=480)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("shapes.tar.gz"))
    parser.add_argument("--serving", type=Path, default=None,
                        help="also write sample-request.json + expected-response.json into this folder")
    args = parser.parse_args(argv)
    print(write_dataset(args.out, args.images, args.seed))
    if args.serving:
        print(write_serving_check(args.serving))


if __name__ == "__main__":
    main()
