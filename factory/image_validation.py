"""Validation of an image upload (``data.kind: images``) against its model's ``model.yaml``.

``validate_image_archive`` unpacks the archive safely (``factory.archives``) into a run-scoped folder, then
checks what it holds: every image decodes (Pillow ``verify`` and a full decode), has the model's size and
mode when it declares them, and sits in the model's layout:

- classification (no ``data.annotations``): an ImageFolder, ``<label>/<name>.png|jpg``, each label one of the
  model's labels, at least ``min_per_label`` images per label;
- detection: the images plus the JSONL member ``data.annotations`` in Azure ML's image format, one line per
  image: ``{"image_url": "<member path>", "label": [{"label", "topX", "topY", "bottomX", "bottomY"}]}`` with
  normalised coordinates in [0, 1]; each image named must exist, each label be known, at least
  ``min_per_label`` boxes per label.

Each message names the archive and the member (and the annotation line). The folder is removed afterwards
unless ``keep`` is set.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from factory.archives import ArchiveError, Limits, extract
from factory.fields import as_dict, as_list
from factory.model_spec import ImageDataSchema, ModelSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
MAX_ERRORS = 20
MAX_PIXELS = 40_000_000  # a decompression bomb is refused before it is decoded
_COORDS = ("topX", "topY", "bottomX", "bottomY")


def _check_image(archive: str, root: Path, name: str, data: ImageDataSchema) -> ArchiveError | None:
    """Why member ``name`` is not an acceptable image, or None."""
    from PIL import Image

    expected_format = _FORMATS[Path(name).suffix.lower()]
    file = root / name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as im:
                fmt, size, mode = im.format, im.size, im.mode
                if size[0] * size[1] > MAX_PIXELS:
                    return ArchiveError(archive, f"an image of at most {MAX_PIXELS} pixels", f"{size[0]}x{size[1]}",
                                        name)
                im.verify()
            with Image.open(file) as im:
                im.load()  # verify() does not decode the pixels; a truncated image fails here
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return ArchiveError(archive, f"a {expected_format} image that decodes", f"an undecodable file ({exc})", name)
    if fmt != expected_format:
        return ArchiveError(archive, f"a {expected_format} image as its name says", f"a {fmt} image", name)
    spec = data.image
    if (spec.width and size[0] != spec.width) or (spec.height and size[1] != spec.height):
        want = f"{spec.width or 'any'}x{spec.height or 'any'} pixels"
        return ArchiveError(archive, f"an image of {want}", f"{size[0]}x{size[1]}", name)
    if spec.mode and mode != spec.mode:
        return ArchiveError(archive, f"an image in mode {spec.mode}", f"mode {mode}", name)
    return None


def _image_url_member(url: Any) -> str | None:
    """The archive member an ``image_url`` names: a relative path, or the ``…/paths/<path>`` of an
    ``azureml://`` datastore URI."""
    if not isinstance(url, str) or not url:
        return None
    if url.startswith("azureml://") and "/paths/" in url:
        return url.split("/paths/", 1)[1]
    return None if "://" in url else url.removeprefix("./")


def _check_box(raw: Any, labels: tuple[str, ...]) -> str | None:
    """Why one ``label`` entry of an annotation line is bad, or None."""
    box = as_dict(raw)
    if not isinstance(raw, dict):
        return f"a box object, got {type(raw).__name__}"
    if str(box.get("label")) not in labels or box.get("label") is None:
        return f"a label among {', '.join(labels)}, got {box.get('label')!r}"
    values: list[float] = []
    for key in _COORDS:
        value = box.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            return f"{key} a number in [0, 1], got {value!r}"
        if not 0 <= value <= 1:
            return f"{key} in [0, 1] (normalised), got {value!r} (a box outside the image)"
        values.append(float(value))
    if values[2] <= values[0] or values[3] <= values[1]:
        return f"bottomX > topX and bottomY > topY, got {values}"
    return None


def _annotations(archive: str, root: Path, data: ImageDataSchema, images: set[str],
                 errors: list[ArchiveError]) -> Counter[str]:
    """Check the JSONL annotations member; returns the number of boxes per label."""
    name = data.annotations or ""
    counts: Counter[str] = Counter()
    file = root / name
    if not file.is_file():
        errors.append(ArchiveError(archive, f"an annotations file {name} at the archive root", "none", name))
        return counts
    seen: set[str] = set()
    with file.open(encoding="utf-8", errors="strict") as handle:
        try:
            lines = list(enumerate(handle, start=1))
        except UnicodeDecodeError as exc:
            errors.append(ArchiveError(archive, "UTF-8 JSON lines", f"bytes that are not UTF-8 ({exc.reason})", name))
            return counts
    for number, line in lines:
        if not line.strip():
            continue
        where = f"{name} line {number}"
        try:
            parsed: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(ArchiveError(archive, "one JSON object per line", f"invalid JSON ({exc.msg})", where))
            continue
        entry = as_dict(parsed)
        if not isinstance(parsed, dict) or not isinstance(entry.get("label"), list):
            errors.append(ArchiveError(archive, 'an object with "image_url" and a "label" list', "something else",
                                       where))
            continue
        member = _image_url_member(entry.get("image_url"))
        if member is None or member not in images:
            errors.append(ArchiveError(archive, "an image_url naming an image of the archive",
                                       f"{entry.get('image_url')!r}, which is missing", where))
            continue
        seen.add(member)
        for index, box in enumerate(as_list(entry["label"])):
            if why := _check_box(box, data.labels):
                errors.append(ArchiveError(archive, why.split(", got ")[0], why.partition(", got ")[2],
                                           f"{where} box {index}"))
            else:
                counts[str(box["label"])] += 1
    for missing in sorted(images - seen)[:3]:
        errors.append(ArchiveError(archive, f"a line in {name} for every image", "an image without one", missing))
    return counts


def validate_image_archive(path: Path | str, spec: ModelSpec, display_name: str, workdir: Path | str,
                           keep: bool = False, max_errors: int = MAX_ERRORS,
                           per_label: Counter[str] | None = None) -> list[ArchiveError]:
    """Every problem (up to ``max_errors``) that keeps the archive at ``path`` from being a valid upload for
    ``spec``; an empty list means it is valid. Unpacks into ``workdir`` (run-scoped, must be empty).
    ``per_label``, when given, receives the valid images (classification) or boxes (detection) per label."""
    data = spec.data
    assert isinstance(data, ImageDataSchema), f"{spec.name}: data.kind is not images"
    size = Path(path).stat().st_size
    if size > data.max_bytes:
        return [ArchiveError(display_name, f"an archive of at most {data.max_mb:g} MB", f"{size / 1e6:.1f} MB")]
    root = Path(workdir)
    try:
        try:
            files = extract(path, root, Limits(data.max_members, data.max_uncompressed_bytes), display_name)
        except ArchiveError as exc:
            return [exc]
        return _check_members(display_name, root.resolve(), files, data, per_label)[: max_errors + 1]
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def _check_members(archive: str, root: Path, files: list[str], data: ImageDataSchema,
                   per_label: Counter[str] | None = None) -> list[ArchiveError]:
    errors: list[ArchiveError] = []
    images: set[str] = set()
    counts: Counter[str] = Counter()
    detection = data.annotations is not None
    for name in files:
        if detection and name == data.annotations:
            continue
        if Path(name).suffix.lower() not in IMAGE_SUFFIXES:
            errors.append(ArchiveError(archive, "an image (.png, .jpg)" + (f" or {data.annotations}" if detection
                                                                          else ""), "another file", name))
            continue
        if not detection:
            parts = name.split("/")
            if len(parts) != 2:
                errors.append(ArchiveError(archive, "<label>/<name>.png|jpg (an ImageFolder)", "another layout", name))
                continue
            if parts[0] not in data.labels:
                errors.append(ArchiveError(archive, f"a label among {', '.join(data.labels)}", repr(parts[0]), name))
                continue
        if bad := _check_image(archive, root, name, data):
            errors.append(bad)
            continue
        images.add(name)
        if not detection:
            counts[name.split("/")[0]] += 1
        if len(errors) > MAX_ERRORS:
            return errors
    if detection:
        counts = _annotations(archive, root, data, images, errors)
    if per_label is not None:
        per_label.update({label: counts[label] for label in data.labels})
    what = "boxes" if detection else "images"
    for label in data.labels:
        if counts[label] < data.min_per_label:
            errors.append(ArchiveError(archive, f"at least {data.min_per_label} {what} of label {label}",
                                       str(counts[label])))
    return errors
