"""A signed context built with the kit's Dockerfile: the image holds /app/model.sig and the key beside
/app/model, declares MODEL_SIGNATURE, and its server's check accepts the folder as built and refuses it
once a model file changed inside the container."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from factory.adapters.local.base_image import ensure_base_image
from factory.adapters.local.containers import engine
from factory.packaging.context import assemble, build_args, model_labels
from tests.packaging.helpers import REPO
from tests.supplychain.helpers import make_signer

CHECK = "from model_server.modelsig import check_from_env; print(check_from_env())"


@pytest.mark.slow
def test_the_image_of_a_signed_context_checks_its_model_folder(tmp_path: Path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "model.joblib").write_bytes(b"\x80\x04 weights")
    (artifacts / "model.json").write_text(json.dumps({"name": "wine_cultivar", "task": "classification"}))
    ctx = assemble(REPO / "models" / "wine_cultivar", artifacts, tmp_path / "ctx",
                   model_labels("wine_cultivar", "1", "run-sig", "abc"), signer=make_signer(tmp_path / "keys"))
    (Path(ctx.path) / "deps" / "amd64").mkdir(parents=True)  # no packages needed for the check itself
    eng = engine()
    tag = f"localhost/mf-test-signed-model:{uuid.uuid4().hex[:8]}"
    args = ["build", "-q", "--network=none", "--build-arg", f"BASE_IMAGE={ensure_base_image(eng)}",
            "--build-arg", "TARGETARCH=amd64", "-t", tag]
    for name, value in build_args(ctx).items():
        args += ["--build-arg", f"{name}={value}"]
    eng.run([*args, ctx.path], timeout=300)
    try:
        ok = eng.run(["run", "--rm", "--network=none", tag, "python3", "-c", CHECK])
        assert ok.stdout.startswith("/app/model matches /app/model.sig (sha256:")
        tampered = eng.run(["run", "--rm", "--network=none", "--user", "0", tag, "python3", "-c",
                            "open('/app/model/model.joblib', 'ab').write(b'x'); " + CHECK], check=False)
        assert tampered.returncode == 1
        assert "does not match its signature (changed: model.joblib)" in tampered.stderr
    finally:
        eng.run(["rmi", "-f", tag], check=False)
