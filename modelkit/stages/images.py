"""Reading an image upload inside a pipeline step: the archive unpacked safely (the factory validated it
before training; this refuses the same hostile members again, as the step may run on any upload) and the
ImageFolder read into arrays."""

from __future__ import annotations

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
