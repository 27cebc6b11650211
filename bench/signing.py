"""Signing benchmark: the extra time and bytes the chain (signature + attestations) adds to one version.

Starts a dev and a prod Distribution registry on free loopback ports, pushes a small image index per version
(the chain's cost does not depend on the image's size: it signs the index digest) and, for each of ``--versions``
versions, times each step as a run makes it: the key check before the build, the signature and the provenance,
verification and SBOM attestations after the push (``build``), the edge smoke and approval attestations
(``approval``), and
the signed promotion (``promote``: the checks, the copy of signatures and attestations, the prod signature and
the image copy) beside a plain promotion of a same-sized unsigned image (``plain promote``: what promotion cost
before); ``extra`` is build + approval + promote - plain promote. Bytes: the ``.sig`` and ``.att`` manifests
and blobs stored in each registry.
The model's own signature: ``model sign`` (OpenSSF model-signing bundle of a model folder of ``--model-mb``,
at packaging), ``model verify`` (the scoring server's stdlib check at start, pure-Python P-256), and
``image bytes`` (gzip of what it adds to an image: model.sig, model-signing.pub, model_server/modelsig.py).
``device check``: the devices' pull-time signature check of the prod image (``factory.supplychain.policy``).
Prints a table and writes ``bench/results/signing.json``.

    .venv/bin/python bench/signing.py [--versions 5] [--lock modelkit/environments/sklearn/requirements.lock]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from contract import SmokeVerdict  # noqa: E402
from factory.adapters.local.host import free_port  # noqa: E402
from factory.adapters.local.registry import LocalImageRegistry  # noqa: E402
from factory.adapters.local.signing import LocalKeySigner, ensure_key_pair  # noqa: E402
from factory.ports import ImageRef, ScoringCheck  # noqa: E402
from factory.supplychain import statements  # noqa: E402
from factory.supplychain.cosign import attestation_tag, signature_tag  # noqa: E402
from factory.supplychain.modelsig import PUBLIC_KEY_FILE, SIGNATURE_FILE, write_signature  # noqa: E402
from factory.supplychain.oci import Registry  # noqa: E402
from factory.supplychain.policy import require_signature  # noqa: E402
from factory.supplychain.steps import attest_approval, attest_statement, now, promote_signed, require_signer, sign_build  # noqa: E402
from localstack.registry import start_registry  # noqa: E402
from model_server.modelsig import verify_model  # noqa: E402
from tests.packaging.helpers import push_tiny_image  # noqa: E402

REPOSITORY = "models/bench"


def stored_bytes(registry: Registry, digest: str) -> int:
    """The bytes of ``digest``'s ``.sig`` and ``.att`` manifests and of every blob they name."""
    total = 0
    for tag in (signature_tag(digest), attestation_tag(digest)):
        manifest = registry.manifest(REPOSITORY, tag)
        if manifest is None:
            continue
        body = manifest.json()
        total += len(manifest.body)
        total += sum(int(d["size"]) for d in [body["config"], *body["layers"]])
    return total


def image_bytes(context: Path) -> int:
    """gzip size of what the model signature adds to an image (its files, as a layer would hold them)."""
    import gzip

    files = [context / SIGNATURE_FILE, context / PUBLIC_KEY_FILE, REPO / "model_server/modelsig.py"]
    return sum(len(gzip.compress(f.read_bytes())) for f in files)


def model_signature(root: Path, signer: LocalKeySigner, version: int, megabytes: float) -> tuple[float, float, int]:
    """``(sign s, verify s, image bytes)`` for a model folder of ``megabytes`` (one artifact + model.json)."""
    import os

    context = root / f"context-{version}"
    folder = context / "model"
    folder.mkdir(parents=True)
    (folder / "model.joblib").write_bytes(os.urandom(int(megabytes * 1024 * 1024)))
    (folder / "model.json").write_text('{"task": "classification"}')
    t0 = time.perf_counter()
    write_signature(folder, context, signer, "bench")
    t1 = time.perf_counter()
    verify_model(folder, (context / SIGNATURE_FILE).read_bytes(), (context / PUBLIC_KEY_FILE).read_bytes())
    return t1 - t0, time.perf_counter() - t1, image_bytes(context)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--versions", type=int, default=5)
    parser.add_argument("--lock", type=Path, default=REPO / "modelkit/environments/sklearn/requirements.lock")
    parser.add_argument("--model-mb", type=float, default=1.0, help="size of the signed model artifact")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="mf-bench-signing-") as tmp:
        root = Path(tmp)
        ensure_key_pair(root / "keys/signing.key", root / "keys/signing.pub")
        signer = LocalKeySigner(root / "keys/signing.key", root / "keys/signing.pub")
        dev, prod = start_registry("dev", free_port(), root), start_registry("prod", free_port(), root)
        try:
            images = LocalImageRegistry(dev.address, prod.address)
            for version in range(1, args.versions + 1):
                digest = push_tiny_image(dev.address, REPOSITORY, f"run-{version}", payload=b"v%d" % version)
                image = ImageRef(dev.address, REPOSITORY, digest=digest)
                facts = statements.BuildFacts(model="bench", version=str(version), run_id=f"run-{version}",
                                              repository=REPOSITORY, source_commit="0" * 40, data_sha256="1" * 64,
                                              training_job=f"job-{version}", lock_sha256="2" * 64,
                                              arches=["amd64", "arm64"])
                t0 = time.perf_counter()
                require_signer(signer)
                sign_build(signer, images, image, facts, ScoringCheck(request={"data": [[1.0] * 13]}, expected=[0]),
                           "amd64: passed; arm64: passed", args.lock)
                t1 = time.perf_counter()
                attest_statement(signer, images, image, statements.EDGE_SMOKE, statements.edge_smoke(
                    f"run-{version}", "bench", str(version),
                    SmokeVerdict.from_dict({"status": "pass", "cases": 2, "p50_ms": 3.0, "p95_ms": 5.0,
                                            "devices": [{"device": "sim-amd64", "arch": "amd64", "status": "pass"},
                                                        {"device": "sim-arm64", "arch": "arm64", "status": "pass"}]})))
                attest_approval(signer, images, image, statements.approval(
                    f"run-{version}", "bench", str(version), digest, "bench@example.com", now(), "approve"))
                t2 = time.perf_counter()
                promote_signed(signer, images, image, REPOSITORY, f"v{version}", str(version))
                t3 = time.perf_counter()
                plain = push_tiny_image(dev.address, "models/plain", f"run-{version}", payload=b"p%d" % version)
                t4 = time.perf_counter()
                images.promote(ImageRef(dev.address, "models/plain", digest=plain), "models/plain", f"v{version}")
                plain_s = time.perf_counter() - t4
                t5 = time.perf_counter()
                require_signature(f"{prod.address}/{REPOSITORY}:v{version}", signer.public_key_pem(), Registry)
                device_s = time.perf_counter() - t5
                sign_s, verify_s, added = model_signature(root, signer, version, args.model_mb)
                rows.append({"version": version, "build_s": t1 - t0, "approval_s": t2 - t1,
                             "promote_s": t3 - t2, "plain_promote_s": plain_s, "extra_s": t3 - t0 - plain_s,
                             "dev_bytes": stored_bytes(Registry(dev.address), digest),
                             "prod_bytes": stored_bytes(Registry(prod.address), digest),
                             "model_sign_s": sign_s, "model_verify_s": verify_s, "device_check_s": device_s,
                             "image_bytes": added})
        finally:
            dev.stop()
            prod.stop()
    keys = ("build_s", "approval_s", "promote_s", "plain_promote_s", "extra_s", "dev_bytes", "prod_bytes",
            "model_sign_s", "model_verify_s", "device_check_s", "image_bytes")
    print(f"{'version':>7}  {'build s':>8}  {'approval s':>10}  {'promote s':>9}  {'plain promote s':>15}  "
          f"{'extra s':>8}  {'dev bytes':>9}  {'prod bytes':>10}  {'model sign s':>12}  {'model verify s':>14}  "
          f"{'device check s':>14}  {'image bytes':>11}")

    def line(label: str, r: dict[str, float]) -> str:
        return (f"{label:>7}  {r['build_s']:>8.3f}  {r['approval_s']:>10.3f}  {r['promote_s']:>9.3f}  "
                f"{r['plain_promote_s']:>15.3f}  {r['extra_s']:>8.3f}  {r['dev_bytes']:>9.0f}  "
                f"{r['prod_bytes']:>10.0f}  {r['model_sign_s']:>12.3f}  {r['model_verify_s']:>14.3f}  "
                f"{r['device_check_s']:>14.3f}  {r['image_bytes']:>11.0f}")

    for r in rows:
        print(line(str(r["version"]), r))
    summary = {k: statistics.median(r[k] for r in rows) for k in keys}
    print(line("median", summary))
    out = REPO / "bench" / "results" / "signing.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"lock": str(args.lock.relative_to(REPO)) if args.lock.is_relative_to(REPO)
                               else str(args.lock), "model_mb": args.model_mb, "versions": rows,
                               "median": summary}, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
