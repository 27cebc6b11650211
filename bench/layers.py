"""Layer benchmark: what each model image costs an edge device, read from a registry's manifests.

For every model repository in the registry (default: the local prod registry of ``make run``; run it twice so
each model has two consecutive versions) and every architecture of its image index, prints: the total
compressed size, each layer's compressed size and what it holds (base, dependencies, serving code, model
code + config, model artifact), the bytes a device holding the previous version downloads for the newest
one, and the part of its bytes it shares with a sibling (another model on the same dependency set). Checks
the targets: an update whose code did not change downloads at most the artifact + 100 KB; siblings on the
same dependency set share at least 95 %. Writes ``bench/results/layers.json``.

    .venv/bin/python bench/layers.py [--registry 127.0.0.1:5200] [--state-dir .factory]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from factory.adapters.local.registry import skopeo_manifest  # noqa: E402
from factory.packaging.layers import ArchImage, read_image, shared_fraction, update_bytes  # noqa: E402

UPDATE_SLACK = 100 * 1024
SHARE_TARGET = 0.95


def _registry(args: argparse.Namespace) -> str:
    if args.registry:
        return args.registry
    stack = Path(args.state_dir) / "stack.json"
    if stack.is_file():
        return f"127.0.0.1:{json.loads(stack.read_text())['ports']['prod_registry']}"
    return "127.0.0.1:5200"


def _tags(registry: str, repository: str) -> list[str]:
    proc = subprocess.run(["skopeo", "list-tags", "--tls-verify=false", f"docker://{registry}/{repository}"],
                          capture_output=True, text=True, timeout=60, check=True)
    tags = json.loads(proc.stdout)["Tags"] or []
    versions = sorted((int(t[1:]), t) for t in tags if re.fullmatch(r"v\d+", t))
    return [t for _, t in versions]


def _repositories(registry: str) -> list[str]:
    import urllib.request

    with urllib.request.urlopen(f"http://{registry}/v2/_catalog", timeout=30) as resp:
        return sorted(json.loads(resp.read())["repositories"] or [])


def _dependency_sets() -> dict[str, str]:
    """Each model's image repository -> its dependency set (model.yaml ``environment:``), from ``models/``."""
    import yaml

    from factory import kit

    sets = {}
    for spec in sorted((REPO / "models").glob("*/model.yaml")):
        try:
            data = yaml.safe_load(spec.read_text()) or {}
            sets[str(data["image"]["repository"])] = kit.environment_of(spec.parent)
        except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
            continue  # a broken folder: the catalog reports it; its images get no sibling here
    return sets


def _changed_roles(new: ArchImage, old: ArchImage) -> list[str]:
    """The roles of the newest image's layers (other than the artifact) that the previous one does not hold."""
    held = {layer.digest for layer in old.layers}
    return [layer.role for layer in new.layers[:-1] if layer.digest not in held]


def _kb(n: float) -> str:
    return f"{n / 1024:,.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:,.1f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registry", default="", help="host:port of the registry (default: the stack's prod)")
    parser.add_argument("--state-dir", default=".factory")
    args = parser.parse_args()
    registry = _registry(args)
    images: dict[str, dict[str, dict[str, ArchImage]]] = {}  # repository -> tag -> arch -> image
    for repository in _repositories(registry):
        tags = _tags(registry, repository)[-2:]
        if tags:
            images[repository] = {tag: read_image(f"{registry}/{repository}:{tag}", skopeo_manifest)
                                  for tag in tags}
    if not images:
        print(f"no model images with v<N> tags in {registry}: run `make run` (twice, for updates) first")
        return 1
    repos = sorted(images)
    sets = _dependency_sets()
    rows, results, ok = [], [], True
    for repository in repos:
        tags = sorted(images[repository], key=lambda t: int(t[1:]))
        newest = images[repository][tags[-1]]
        previous = images[repository][tags[-2]] if len(tags) > 1 else None
        same_set = [r for r in repos if r != repository and sets.get(r) and sets.get(r) == sets.get(repository)]
        sibling_repo = same_set[0] if same_set else None  # another model on the same dependency set
        sibling = images[sibling_repo][max(images[sibling_repo], key=lambda t: int(t[1:]))] if sibling_repo else None
        for arch, image in sorted(newest.items()):
            artifact = image.layers[-1].size
            update = update_bytes(image, [previous[arch]]) if previous and arch in previous else None
            changed = _changed_roles(image, previous[arch]) if previous and arch in previous else []
            share = shared_fraction(image, sibling[arch]) if sibling and arch in sibling else None
            update_ok = update is None or update <= artifact + UPDATE_SLACK
            share_ok = share is None or share >= SHARE_TARGET
            ok = ok and update_ok and share_ok
            layers = ", ".join(f"{layer.role} {_kb(layer.size)}" for layer in image.layers)
            missed = f" MISSED ({', '.join(changed)} changed)" if changed else " MISSED"
            rows.append([f"{repository}:{tags[-1]}", arch, _kb(image.total),
                         "-" if update is None else f"{_kb(update)} (artifact {_kb(artifact)})" + ("" if update_ok
                                                                                                    else missed),
                         "-" if share is None else f"{share:.1%} with {sibling_repo}" + ("" if share_ok else " MISSED"),
                         layers])
            results.append({"image": f"{registry}/{repository}:{tags[-1]}", "arch": arch, "digest": image.digest,
                            "total_bytes": image.total, "previous": tags[-2] if previous else None,
                            "update_bytes": update, "artifact_bytes": artifact, "changed_layers": changed,
                            "dependency_set": sets.get(repository), "sibling": sibling_repo,
                            "shared_with_sibling": share, "update_target_met": update_ok,
                            "share_target_met": share_ok,
                            "layers": [{"role": layer.role, "digest": layer.digest, "bytes": layer.size}
                                       for layer in image.layers]})
    head = ["image", "arch", "total", "update from previous version", "shared with sibling", "layers (compressed)"]
    widths = [max(len(str(r[c])) for r in [head, *rows]) for c in range(len(head))]
    for row in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    print(f"\ntargets: update <= artifact + 100 KB, siblings share >= 95 %: {'met' if ok else 'MISSED'}")
    out = REPO / "bench" / "results" / "layers.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"registry": registry, "targets_met": ok, "images": results}, indent=2) + "\n")
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
