"""Make a locally built image's config reproducible.

``podman build --timestamp`` fixes file times and the creation time, and ``--omit-history`` drops the
history (whose comments name random intermediate image ids), but the Docker-format config still records
the build container's id (``container``) and host name (``config.Hostname``, ``container_config``), which
differ on every build. ``normalise_image`` rewrites that config without them: the layers are untouched (same
diff ids), so re-importing the image into local storage copies no layer data.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from factory.adapters.local.containers import ContainerEngine, ContainerError

VOLATILE_KEYS = ("container",)


def reproducible_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without the fields that name the build container (``container``, host names)."""
    fixed = {k: v for k, v in config.items() if k not in VOLATILE_KEYS}
    for key in ("config", "container_config"):
        if isinstance(fixed.get(key), dict):
            fixed[key] = {**fixed[key], "Hostname": ""}
    return fixed


def _skopeo(eng: ContainerEngine, *args: str) -> None:
    proc = subprocess.run(["skopeo", *args], env=eng.env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise ContainerError(f"skopeo {' '.join(args[:3])} failed: {proc.stderr.strip()[-1500:]}")


def normalise_image(eng: ContainerEngine, local: str) -> str:
    """Rewrite ``local``'s config with ``reproducible_config`` (same name, same layers); returns the new id."""
    before = eng.run(["image", "inspect", "--format", "{{.Id}}", local]).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="mf-image-") as tmp:
        folder = Path(tmp) / "image"
        _skopeo(eng, "copy", "-q", f"containers-storage:{local}", f"dir:{folder}")
        manifest = json.loads((folder / "manifest.json").read_text())
        old = folder / manifest["config"]["digest"].split(":", 1)[1]
        raw = json.dumps(reproducible_config(json.loads(old.read_text())), separators=(",", ":")).encode()
        digest = hashlib.sha256(raw).hexdigest()
        old.unlink()
        (folder / digest).write_bytes(raw)
        manifest["config"] = {**manifest["config"], "digest": f"sha256:{digest}", "size": len(raw)}
        (folder / "manifest.json").write_text(json.dumps(manifest, separators=(",", ":")))
        _skopeo(eng, "copy", "-q", f"dir:{folder}", f"containers-storage:{local}")
    if before != digest:
        eng.run(["rmi", before], check=False)  # the untagged original (its layers stay: the new image uses them)
    return digest
