"""Seeded generator of a small object-detection dataset: circles, squares and triangles drawn on noisy
backgrounds, with their boxes known exactly.

``python models/shapes_detector/data/generate.py [--images N] [--seed S] [--out PATH]``; the committed
sample ``shapes.tar.gz`` is ``--images 480 --seed 11``. Each image is a 64x64 RGB JPEG ``images/<n>.jpg``
holding one to three shapes; ``annotations.jsonl`` has one line per image in Azure ML's JSONL format for
object detection (``image_url``, ``image_details``, ``label``: ``[{label, topX, topY, bottomX, bottomY,
isCrowd}]``, coordinates normalised to [0, 1]). The same seed always gives the same bytes.
"""

from __future__ import annotations

import argparse
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


def draw_image(rng: np.random.Generator) -> tuple[Image.Image, list[dict]]:
    """One image and its boxes (pixel boxes normalised to [0, 1])."""
    base = rng.integers(40, 200, size=3)
    noise = rng.normal(0, 18, size=(SIZE, SIZE, 3))
    pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, mode="RGB")
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
        colour = tuple(int(c) for c in (255 - base + rng.integers(-30, 30, size=3)) % 256)
        if label == "circle":
            draw.ellipse(box, fill=colour)
        elif label == "square":
            draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=colour)
        else:
            draw.polygon([((box[0] + box[2]) / 2, box[1]), (box[0], box[3] - 1), (box[2] - 1, box[3] - 1)],
                         fill=colour)
        labels.append({"label": label, "topX": box[0] / SIZE, "topY": box[1] / SIZE, "bottomX": box[2] / SIZE,
                       "bottomY": box[3] / SIZE, "isCrowd": 0})
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=480)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("shapes.tar.gz"))
    args = parser.parse_args(argv)
    print(write_dataset(args.out, args.images, args.seed))


if __name__ == "__main__":
    main()
