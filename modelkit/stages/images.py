"""Reading an image upload inside a pipeline step: the archive unpacked safely (the factory validated it
before training; this refuses the same hostile members again, as the step may run on any upload), and an
ImageFolder (classification) or images with Azure ML's JSONL annotations (object detection) read into arrays."""

from __future__ import annotations

import json
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

SUFFIXES = (".png", ".jpg", ".jpeg")


def _safe(name: str) -> str:
    parts = PurePosixPath(name).parts
    if name.startswith("/") or "\\" in name or ".." in parts:
        raise ValueError(f"archive member {name!r}: expected a relative path inside the archive")
    return name


def unpack(archive: Path, dest: Path) -> Path:
    """Unpack ``archive`` (a .zip or .tar.gz, or a folder holding one) into ``dest``; returns ``dest``."""
    if archive.is_dir():
        found = sorted(p for p in archive.iterdir() if p.name.endswith((".zip", ".tar.gz", ".tgz")))
        if len(found) != 1:
            raise FileNotFoundError(f"{archive}: expected one .zip or .tar.gz, found {len(found)}")
        archive = found[0]
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                _safe(info.filename)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise ValueError(f"archive member {info.filename!r}: expected a file, got a symbolic link")
            zf.extractall(dest)  # noqa: S202 - every member name and type checked above
    else:
        with tarfile.open(archive, "r:gz") as tf:
            tf.extractall(dest, filter="data")  # refuses absolute paths, '..', links leaving dest, devices
    return dest


def read_image_folder(root: Path, labels: list[str], mode: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``<label>/<name>.png|jpg`` under ``root`` → (uint8 images N×H×W[×C], label indices, member names)."""
    images, targets, names = [], [], []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES):
        label = path.parent.name
        if label not in labels:
            continue
        with Image.open(path) as im:
            images.append(np.asarray(im.convert(mode)))
        targets.append(labels.index(label))
        names.append(path.relative_to(root).as_posix())
    if not images:
        raise FileNotFoundError(f"{root}: no <label>/<name>.png|jpg images of labels {labels}")
    return np.stack(images), np.asarray(targets, dtype=np.int64), names


def image_member(url: str) -> str:
    """The archive member an annotation's ``image_url`` names (relative, or ``azureml://.../paths/<path>``)."""
    return url.split("/paths/", 1)[1] if url.startswith("azureml://") and "/paths/" in url else url


def read_annotated(root: Path, annotations: str, labels: list[str], mode: str,
                   size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Images and boxes from Azure ML's JSONL format for object detection (one line per image: ``image_url``,
    ``label``: ``[{label, topX, topY, bottomX, bottomY}]`` normalised) → ``x`` uint8 N×H×W[×C] (resized to
    ``size`` = (width, height)), and per box ``boxes`` (N_b×4 corners), ``box_label`` and ``box_image``."""
    xs, boxes, box_label, box_image = [], [], [], []
    for number, line in enumerate((root / annotations).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        entry = json.loads(line)
        path = root / _safe(image_member(str(entry["image_url"])))
        with Image.open(path) as im:
            im = im.convert(mode)
            xs.append(np.asarray(im if im.size == size else im.resize(size, Image.Resampling.BILINEAR)))
        for box in entry.get("label") or []:
            if str(box["label"]) not in labels:
                raise ValueError(f"{annotations} line {number}: label {box['label']!r} is not one of {labels}")
            boxes.append([float(box[k]) for k in ("topX", "topY", "bottomX", "bottomY")])
            box_label.append(labels.index(str(box["label"])))
            box_image.append(len(xs) - 1)
    if not xs:
        raise FileNotFoundError(f"{root / annotations}: no annotated images")
    return {"x": np.stack(xs), "boxes": np.asarray(boxes, np.float32).reshape(-1, 4),
            "box_label": np.asarray(box_label, np.int64), "box_image": np.asarray(box_image, np.int64)}
