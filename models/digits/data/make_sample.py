"""Write the sample upload ``digits.zip`` from scikit-learn's bundled digits dataset (no download).

``python models/digits/data/make_sample.py``: every one of the 1797 8x8 images as a grey-scale PNG (the
dataset's 0-16 intensities scaled to 0-255) in an ImageFolder, ``<digit>/<index>.png``. The archive is
byte-for-byte the same on every run (fixed member times, sorted members).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

FIXED_TIME = (2026, 1, 1, 0, 0, 0)


def png_bytes(pixels: np.ndarray) -> bytes:
    """One 8x8 digit (0-16 floats) as PNG bytes, mode L."""
    grey = np.clip(np.rint(pixels * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(grey, mode="L").save(out, format="PNG", optimize=True)
    return out.getvalue()


def write_sample(dest: Path, limit: int | None = None) -> Path:
    """Write the ImageFolder zip to ``dest`` (the first ``limit`` images only when given)."""
    bunch = load_digits()
    images, targets = bunch.images[:limit], bunch.target[:limit]
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for index in np.lexsort((np.arange(len(targets)), targets)):
            info = zipfile.ZipInfo(f"{int(targets[index])}/{int(index):04d}.png", date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            zf.writestr(info, png_bytes(images[index]), compress_type=zipfile.ZIP_STORED)
    return dest


if __name__ == "__main__":
    print(write_sample(Path(__file__).with_name("digits.zip")))
