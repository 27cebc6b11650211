"""A model image build in the machine's podman image store against the same build in a store of its own (what
`make test-slow` runs in: scripts/own-container-store.sh), side by side in one run.

Trains wine_cultivar on its sample data once, then, alternating between the two stores, builds, verifies and pushes
its amd64 image to a loopback registry, a new version each time (so no build is a cached no-op). Prints the images
each store held and the seconds per build, and writes bench/results/container_store.json.

    .venv/bin/python bench/container_store.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from factory.adapters.local.host import free_port  # noqa: E402
from localstack.registry import start_registry  # noqa: E402

MODEL = "wine_cultivar"


def _images() -> int:
    proc = subprocess.run(["podman", "info", "--format", "{{.Store.ImageStore.Number}}"], capture_output=True,
                          text=True, check=True)
    return int(proc.stdout.strip())


def build_once(artifacts: Path, registry: str, version: int) -> None:
    """One build (in whichever store the environment names); prints ``{"seconds": …, "images": …}``."""
    from tests.packaging.helpers import build_pushed

    images = _images()
    with tempfile.TemporaryDirectory(prefix="mf-bench-store-") as tmp:
        started = time.monotonic()
        build_pushed(REPO / "models" / MODEL, artifacts, Path(tmp) / "ctx", registry, f"bench-{version}",
                     str(version), arches=("amd64",), run_id=f"run-bench-{version}")
        print(json.dumps({"seconds": round(time.monotonic() - started, 1), "images": images}))


def _run(store: str, artifacts: Path, registry: str, version: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--build", str(version), "--artifacts", str(artifacts),
               "--registry", registry]
    if store == "own":
        command = ["bash", str(REPO / "scripts" / "own-container-store.sh"), *command]
    env = {k: v for k, v in os.environ.items() if k != "CONTAINERS_STORAGE_CONF"}
    proc = subprocess.run(command, cwd=REPO, env={**env, "PYTHON": sys.executable}, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"the {store} store's build failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("{")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--artifacts", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--registry", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build is not None:
        build_once(args.artifacts, args.registry, args.build)
        return 0

    from tests.packaging.helpers import train_with_src

    with tempfile.TemporaryDirectory(prefix="mf-bench-store-") as tmp:
        artifacts = train_with_src(MODEL, Path(tmp) / "train")
        registry = start_registry("bench", free_port(), Path(tmp))
        try:
            results: dict[str, list[dict[str, float]]] = {"machine": [], "own": []}
            version = int(time.time())
            for _ in range(args.rounds):
                for store in ("machine", "own"):
                    version += 1
                    results[store].append(_run(store, artifacts, registry.address, version))
                    print(f"  {store}: {results[store][-1]}", file=sys.stderr)
        finally:
            registry.stop()

    rows = {store: {"images": int(statistics.median(r["images"] for r in runs)),
                    "median_s": round(statistics.median(r["seconds"] for r in runs), 1),
                    "runs_s": [r["seconds"] for r in runs]} for store, runs in results.items()}
    ratio = round(rows["machine"]["median_s"] / rows["own"]["median_s"], 2)
    print(f"\none {MODEL} amd64 image: build, verify, push ({args.rounds} rounds, alternating)\n")
    print("| store | images in it | median s | runs s |\n|---|---|---|---|")
    for store, row in rows.items():
        print(f"| {store} | {row['images']} | {row['median_s']} | {', '.join(map(str, row['runs_s']))} |")
    print(f"\nmachine / own: {ratio}x")
    out = REPO / "bench" / "results" / "container_store.json"
    out.write_text(json.dumps({"model": MODEL, "rounds": args.rounds, "host": platform.node(),
                               "cpus": os.cpu_count(), "stores": rows, "machine_over_own": ratio}, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
