"""Image size benchmark: the local base and a model image per dependency set and architecture, uncompressed.

Builds, for each architecture, the local base from scratch (under a bench tag, timed: the recipe of
``factory.adapters.local.base_image``) and, on it, the kit's scoring image (``modelkit/serving/Dockerfile``)
for each dependency set: ``onnx`` (digits) and ``sklearn`` (the tabular models), with the set's installed and
pruned dependencies (``factory.packaging.deps``), the serving code, the kit's scoring script and the model's
sample request. The model artifact is left out (``model/`` holds one placeholder file): it is the model's own
bytes (digits' ONNX file is tens of KB), not what this measures. Sizes are ``podman image inspect
--format {{.Size}}``. Also prints the previous base's size when its old tag is still in the engine. Target:
ONNX images at most 150 MB on every architecture. Writes ``bench/results/image_sizes.json``.

    .venv/bin/python bench/image_sizes.py [--arch amd64 --arch arm64]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cli.table import table  # noqa: E402
from factory.adapters.local.base_image import ARCHES, ensure_base_image  # noqa: E402
from factory.adapters.local.containers import ContainerEngine, engine  # noqa: E402
from factory.packaging import deps  # noqa: E402

RESULTS = REPO / "bench" / "results" / "image_sizes.json"
OLD_BASE = "localhost/model-factory-base:bookworm-py311"  # the emulated debootstrap base, before this recipe
SETS = {"onnx": "digits", "sklearn": "nyc_taxi"}
TARGET_MB = {"onnx": 150.0}


def _size(eng: ContainerEngine, ref: str) -> int | None:
    done = eng.run(["image", "inspect", "--format", "{{.Size}}", ref], check=False)
    return int(done.stdout.strip()) if done.returncode == 0 else None


def _context(dest: Path, environment: str, model: str, installed: Path, arch: str) -> None:
    env_dir = REPO / "modelkit" / "environments" / environment
    shutil.copy(REPO / "modelkit" / "serving" / "Dockerfile", dest / "Dockerfile")
    shutil.copy(env_dir / "score.py" if (env_dir / "score.py").is_file() else REPO / "modelkit/serving/score.py",
                dest / "score.py")
    for name in ("sample-request.json", "expected-response.json"):
        shutil.copy(REPO / "models" / model / "model" / name, dest / name)
    (dest / "labels.json").write_text("{}\n")
    shutil.copytree(REPO / "model_server", dest / "model_server",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "model").mkdir()
    (dest / "model" / "placeholder").write_text("the artifact is left out\n")
    shutil.copytree(installed, dest / "deps" / arch, symlinks=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", action="append", choices=ARCHES)
    args = parser.parse_args(argv)
    eng = engine()
    out: dict[str, dict[str, object]] = {}
    rows = []
    with tempfile.TemporaryDirectory(prefix="mf-bench-sizes-") as tmp:
        for arch in args.arch or ARCHES:
            old = _size(eng, OLD_BASE if arch == "amd64" else f"{OLD_BASE}-{arch}")
            ref = f"localhost/model-factory-bench/base:{arch}"
            eng.run(["rmi", "-f", ref], check=False)
            started = time.monotonic()
            ensure_base_image(eng, ref=ref, arch=arch)
            result: dict[str, object] = {"base_build_s": round(time.monotonic() - started, 1),
                                         "base_mb": round((_size(eng, ref) or 0) / 1e6, 1),
                                         "old_base_mb": round(old / 1e6, 1) if old else None}
            for environment, model in SETS.items():
                lock = REPO / "modelkit" / "environments" / environment / "requirements.lock"
                installed = deps.install(lock, arch, Path(tmp) / "deps")
                ctx = Path(tmp) / f"{environment}-{arch}"
                ctx.mkdir()
                _context(ctx, environment, model, installed, arch)
                tag = f"localhost/model-factory-bench/{environment}:{arch}"
                eng.run(["build", "-q", "--platform", f"linux/{arch}", "--build-arg", f"TARGETARCH={arch}",
                         "--build-arg", f"BASE_IMAGE={ref}", "-t", tag, str(ctx)], timeout=1800)
                result[f"{environment}_mb"] = round((_size(eng, tag) or 0) / 1e6, 1)
                eng.run(["rmi", "-f", tag], check=False)
            eng.run(["rmi", "-f", ref], check=False)
            out[arch] = result
            rows.append([arch, str(result["old_base_mb"] or "-"), str(result["base_mb"]),
                         f"{result['base_build_s']:.0f} s", str(result["onnx_mb"]), str(result["sklearn_mb"])])
    print(table(["arch", "old base MB", "base MB", "base build", "onnx image MB (digits)",
                 "sklearn image MB (tabular)"], rows))
    met = all(float(str(r[f"{env}_mb"])) <= mb for r in out.values() for env, mb in TARGET_MB.items())
    print(f"target: onnx images <= {TARGET_MB['onnx']:g} MB on every architecture: {'met' if met else 'MISSED'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"arches": out, "target_mb": TARGET_MB, "met": met}, indent=2) + "\n")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
