"""ACR Tasks and promotion, offline: the rendered task YAML, the run request, the import request on the wire,
and the verify step's own command run against a real local server."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import urllib3
import yaml
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport
from azure.mgmt.containerregistry import ContainerRegistryManagementClient

from factory import ports
from factory.adapters.azure.acr import (
    AcrData,
    AcrImageRegistry,
    AcrTaskImageBuilder,
    run_request,
)
from factory.adapters.azure.acr_tasks import render_task
from factory.adapters.local.host import free_port
from factory.packaging.context import assemble, lock_file, model_labels, scoring_check, tar_context
from factory.packaging.deps import prune_patterns
from factory.settings import Settings
from model_server.check import wait_ready
from tests.packaging.helpers import REPO

MODEL = REPO / "models" / "wine_cultivar"
REF = ports.ImageRef("factorydev.azurecr.io", "models/wine-cultivar", "4")


@pytest.fixture()
def context(tmp_path: Path) -> ports.BuildContext:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "model.joblib").write_bytes(b"x")
    (artifacts / "model.json").write_text("{}")
    return assemble(MODEL, artifacts, tmp_path / "ctx", model_labels("wine_cultivar", "4", "run-42", "c0ffee"))


def steps_of(task_yaml: str) -> list[dict]:
    return yaml.safe_load(task_yaml)["steps"]


STEP_IDS = ["deps-amd64", "build-amd64", "serve-amd64", "verify-amd64",
            "deps-arm64", "build-arm64", "serve-arm64", "verify-arm64", "push", "index", "push-index"]


def test_task_builds_serves_verifies_each_arch_and_pushes_the_index_only_after_both_verified(context):
    steps = steps_of(render_task(context, REF, scoring_check(MODEL), "python:3.11-slim"))
    assert [s["id"] for s in steps] == STEP_IDS
    by_id = {s["id"]: s for s in steps}
    image = "{{.Run.Registry}}/models/wine-cultivar:4"
    for arch in ("amd64", "arm64"):
        assert by_id[f"deps-{arch}"]["when"] == ["-"]  # both architectures start at once
        assert by_id[f"build-{arch}"]["when"] == [f"deps-{arch}"]
        assert by_id[f"serve-{arch}"]["when"] == [f"build-{arch}"] and by_id[f"serve-{arch}"]["detach"] is True
        assert by_id[f"verify-{arch}"]["when"] == [f"serve-{arch}"]
        assert by_id[f"serve-{arch}"]["cmd"] == f"{image}-{arch}"
        assert by_id[f"verify-{arch}"]["cmd"].startswith(
            f"{image}-{arch} python3 -m model_server.check --url http://serve-{arch}:5001")
        deps = by_id[f"deps-{arch}"]["cmd"]
        assert "--require-hashes" in deps and "--only-binary=:all:" in deps and f"--target deps/{arch}" in deps
    assert by_id["push"]["when"] == ["verify-amd64", "verify-arm64"]
    assert [s["id"] for s in steps if "push" in s] == ["push"]  # nothing else pushes images
    assert by_id["push"]["push"] == [f"{image}-amd64", f"{image}-arm64"]
    assert by_id["index"]["cmd"] == f"docker manifest create {image} {image}-amd64 {image}-arm64"
    assert by_id["index"]["when"] == ["push"] and by_id["push-index"]["when"] == ["index"]
    assert by_id["push-index"]["cmd"] == f"docker manifest push --purge {image}"
    assert "aarch64" in by_id["deps-arm64"]["cmd"] and "aarch64" not in by_id["deps-amd64"]["cmd"]


def test_build_step_sets_platform_base_image_labels_and_context_hash(context):
    steps = {s["id"]: s for s in steps_of(render_task(context, REF, scoring_check(MODEL), "python:3.11-slim"))}
    build = steps["build-arm64"]["build"]
    assert build.startswith("-t {{.Run.Registry}}/models/wine-cultivar:4-arm64 -f Dockerfile --platform linux/arm64")
    assert "--build-arg TARGETARCH=arm64" in build
    assert "--build-arg BASE_IMAGE=python:3.11-slim" in build
    assert f"--build-arg CONTEXT_SHA256={context.sha256}" in build
    for arg in ("MODEL_NAME=wine_cultivar", "MODEL_VERSION=4", "RUN_ID=run-42", "SOURCE_COMMIT=c0ffee"):
        assert f"--build-arg {arg}" in build
    assert '--label "io.modelfactory.model=wine_cultivar"' in build
    assert build.endswith(" .")


def test_verify_step_carries_the_check(context):
    check = scoring_check(MODEL)
    verify = steps_of(render_task(context, REF, check, "python:3.11-slim"))[3]
    env = dict(item.split("=", 1) for item in verify["env"])
    assert json.loads(base64.b64decode(env["CHECK_REQUEST_B64"])) == check.request
    assert json.loads(base64.b64decode(env["CHECK_EXPECTED_B64"])) == {**check.expected, "tolerance": check.tolerance}


def test_run_request_encodes_the_task_and_points_at_the_uploaded_source(context):
    task_yaml = render_task(context, REF, scoring_check(MODEL), "python:3.11-slim")
    body = run_request(task_yaml, "source/202611/abc.tar.gz", timeout=1200).as_dict()
    assert body["type"] == "EncodedTaskRunRequest"
    assert base64.b64decode(body["encodedTaskContent"]).decode() == task_yaml
    assert body["sourceLocation"] == "source/202611/abc.tar.gz"
    assert body["platform"]["os"] == "Linux"
    assert body["timeout"] == 1200


def _run_check_step(task_yaml: str, port: int) -> subprocess.CompletedProcess:
    verify = steps_of(task_yaml)[3]
    env = {**os.environ, **dict(item.split("=", 1) for item in verify["env"])}
    args = verify["cmd"].split(" ")[1:]  # drop the image: run the same command on this machine
    args[args.index("--url") + 1] = f"http://127.0.0.1:{port}"
    module = args[args.index("-m") + 1].replace("model_server", "model_server")
    return subprocess.run([sys.executable, "-m", module, *args[args.index("-m") + 2:]], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_the_verify_command_passes_a_good_model_and_fails_a_wrong_expectation(context, artifacts, tmp_path):
    port = free_port()
    score = REPO / "modelkit" / "serving" / "score.py"
    server = subprocess.Popen([sys.executable, "-m", "model_server", "--score", str(score),
                               "--host", "127.0.0.1", "--port", str(port)], cwd=REPO,
                              env={**os.environ, "AZUREML_MODEL_DIR": str(artifacts("wine_cultivar"))},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}", 30)
        good = scoring_check(MODEL)
        passed = _run_check_step(render_task(context, REF, good, "base"), port)
        assert passed.returncode == 0, passed.stderr
        assert passed.stdout.startswith("PASS")
        wrong = ports.ScoringCheck(request=good.request, expected={"predictions": [1, 1, 1]}, tolerance=0)
        failed = _run_check_step(render_task(context, REF, wrong, "base"), port)
        assert failed.returncode == 1
        assert "predictions[0]: expected 1" in failed.stderr
    finally:
        server.terminate()
        server.wait(timeout=10)


class _Recorder(requests.adapters.BaseAdapter):
    """A requests adapter that records each request and answers 200 with an empty JSON body."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.sent.append(request)
        raw = urllib3.response.HTTPResponse(body=io.BytesIO(b"{}"), status=200, preload_content=False,
                                            headers={"Content-Type": "application/json", "Content-Length": "2"})
        return requests.adapters.HTTPAdapter().build_response(request, raw)

    def close(self) -> None:
        pass


class _Token:
    def get_token(self, *scopes, **kwargs):
        return AccessToken("token", int(time.time()) + 3600)


class _KnownDigests(AcrData):
    """Data-plane lookups answered from a dict (login server, repository, tag) -> digest."""

    def __init__(self, digests: dict[tuple[str, str, str], str]) -> None:
        super().__init__()
        self.digests = digests

    def digest(self, login_server, repository, tag):
        return self.digests.get((login_server, repository, tag))


def _registry(recorder: _Recorder, digests: dict) -> AcrImageRegistry:
    session = requests.Session()
    session.mount("https://", recorder)
    mgmt = ContainerRegistryManagementClient(_Token(), "sub-1", transport=RequestsTransport(session=session))
    return AcrImageRegistry("sub-1", "rg-factory", "factorydev", "factoryprod", mgmt_client=mgmt,
                            data=_KnownDigests(digests))


def test_promotion_imports_by_digest_from_dev_into_prod():
    recorder = _Recorder()
    digest = "sha256:" + "ab" * 32
    registry = _registry(recorder, {})
    promoted = registry.promote(ports.ImageRef("factorydev.azurecr.io", "models/wine-cultivar", "4", digest),
                                "wine-cultivar", "4")
    assert promoted == ports.ImageRef("factoryprod.azurecr.io", "wine-cultivar", "4", digest)
    [request] = [r for r in recorder.sent if r.method == "POST"]
    assert request.url.startswith("https://management.azure.com/subscriptions/sub-1/resourceGroups/rg-factory/"
                                  "providers/Microsoft.ContainerRegistry/registries/factoryprod/importImage?")
    assert "api-version=" in request.url
    assert json.loads(request.body) == {
        "source": {"resourceId": "/subscriptions/sub-1/resourceGroups/rg-factory/providers/"
                                 "Microsoft.ContainerRegistry/registries/factorydev",
                   "sourceImage": f"models/wine-cultivar@{digest}"},
        "targetTags": ["wine-cultivar:4"],
        "mode": "NoForce",
    }


def test_promotion_resolves_a_tag_to_its_digest_and_skips_an_import_already_done():
    recorder = _Recorder()
    digest = "sha256:" + "cd" * 32
    registry = _registry(recorder, {("factorydev.azurecr.io", "models/nyc-taxi", "2"): digest,
                                    ("factoryprod.azurecr.io", "nyc-taxi", "2"): digest})
    promoted = registry.promote(ports.ImageRef("factorydev.azurecr.io", "models/nyc-taxi", "2"), "nyc-taxi", "2")
    assert promoted.digest == digest
    assert recorder.sent == []


def test_adapters_read_their_settings():
    settings = Settings.from_env({"FACTORY_BACKEND": "azure", "AZURE_SUBSCRIPTION_ID": "sub-1",
                                  "FACTORY_ACR_RESOURCE_GROUP": "rg", "FACTORY_DEV_ACR_NAME": "dev",
                                  "FACTORY_PROD_ACR_NAME": "prod"})
    builder = AcrTaskImageBuilder.from_settings(settings)
    assert (builder.registry_name, builder.base_image) == ("dev", "docker.io/library/python:3.11-slim-bookworm")
    assert AcrImageRegistry.from_settings(settings).prod_login_server == "prod.azurecr.io"


class _Arm(requests.adapters.BaseAdapter):
    """ACR Tasks' REST API as a script: answers by path, records every request (method, path, JSON body)."""

    def __init__(self, final_status: str) -> None:
        super().__init__()
        self.final_status = final_status
        self.calls: list[tuple[str, str, dict | None]] = []
        self.polls = 0

    def send(self, request, **kwargs):
        path = request.path_url.split("?")[0]
        body = json.loads(request.body) if request.body else None
        self.calls.append((request.method, path.rsplit("/", 1)[-1], body))
        if path.endswith("/listBuildSourceUploadUrl"):
            answer = {"uploadUrl": "https://blob.invalid/source/ctx.tar.gz?sas", "relativePath": "source/ctx.tar.gz"}
        elif path.endswith("/scheduleRun"):
            answer = {"properties": {"runId": "ca7", "status": "Queued"}}
        elif path.endswith("/runs/ca7"):
            self.polls += 1
            status = "Running" if self.polls == 1 else self.final_status
            answer = {"properties": {"runId": "ca7", "status": status, "outputImages": [
                {"registry": "factorydev.azurecr.io", "repository": "models/wine-cultivar", "tag": "4",
                 "digest": "sha256:" + "ef" * 32}] if status == "Succeeded" else [],
                "runErrorMessage": "" if status == "Succeeded" else "step verify failed"}}
        elif path.endswith("/listLogSasUrl"):
            answer = {"logLink": "https://blob.invalid/logs/ca7.txt?sas"}
        else:
            answer = {}
        raw = urllib3.response.HTTPResponse(body=io.BytesIO(json.dumps(answer).encode()), status=200,
                                            preload_content=False, headers={"Content-Type": "application/json"})
        return requests.adapters.HTTPAdapter().build_response(request, raw)

    def close(self) -> None:
        pass


def _builder(arm: _Arm, uploads: list) -> AcrTaskImageBuilder:
    from azure.mgmt.containerregistrytasks import ContainerRegistryTasksMgmtClient

    session = requests.Session()
    session.mount("https://", arm)
    tasks = ContainerRegistryTasksMgmtClient(_Token(), "sub-1", transport=RequestsTransport(session=session))
    return AcrTaskImageBuilder("sub-1", "rg-factory", "factorydev", poll_seconds=0, tasks_client=tasks,
                               data=_KnownDigests({}), upload=lambda url, data: uploads.append((url, data)),
                               download=lambda url: b"Step ID: verify\nFAIL: predictions[0]: expected 0 +- 0, got 2")


def test_a_run_uploads_the_context_schedules_the_task_and_returns_the_pushed_digest(context):
    arm, uploads = _Arm("Succeeded"), []
    built = _builder(arm, uploads).build_verify_push(context, REF, scoring_check(MODEL))
    assert built.digest == "sha256:" + "ef" * 32
    assert built.ref == ports.ImageRef(REF.registry, REF.repository, REF.tag, built.digest)
    assert uploads == [("https://blob.invalid/source/ctx.tar.gz?sas", tar_context(Path(context.path)))]
    [schedule] = [body for method, name, body in arm.calls if name == "scheduleRun"]
    assert schedule["sourceLocation"] == "source/ctx.tar.gz"
    task = yaml.safe_load(base64.b64decode(schedule["encodedTaskContent"]))
    assert [step["id"] for step in task["steps"]] == STEP_IDS
    assert [name for _, name, _ in arm.calls] == ["listBuildSourceUploadUrl", "scheduleRun", "ca7", "ca7",
                                                  "listLogSasUrl"]


def test_a_failed_run_raises_verification_failed_with_the_run_log(context):
    arm, uploads = _Arm("Failed"), []
    with pytest.raises(ports.VerificationFailed, match="ACR run ca7 .* ended Failed: step verify failed") as failure:
        _builder(arm, uploads).build_verify_push(context, REF, scoring_check(MODEL))
    assert "FAIL: predictions[0]" in failure.value.logs


def test_an_image_already_built_from_the_same_context_is_not_rebuilt(context):
    arm, uploads = _Arm("Succeeded"), []
    builder = _builder(arm, uploads)
    digest = "sha256:" + "12" * 32

    class Existing(_KnownDigests):
        def labels(self, login_server, repository, reference):
            return {"io.modelfactory.context-sha256": context.sha256} if reference == digest else {}

    builder.data = Existing({(REF.registry, REF.repository, REF.tag): digest})
    assert builder.build_verify_push(context, REF, scoring_check(MODEL)).digest == digest
    assert arm.calls == [] and uploads == []


def test_the_smoke_module_task_builds_checks_and_pushes_an_amd64_and_arm64_index():
    from factory.adapters.azure.acr_tasks import SMOKE_TASK_FILE, render_smoke_task

    assert SMOKE_TASK_FILE.read_text() == render_smoke_task()  # the checked-in task is the rendered one
    steps = steps_of(SMOKE_TASK_FILE.read_text())
    by_id = {s["id"]: s for s in steps}
    image = "{{.Run.Registry}}/factory-edge-smoke:1"
    assert [s["id"] for s in steps] == ["wheels", "deps-amd64", "build-amd64", "check-amd64", "deps-arm64",
                                        "build-arm64", "check-arm64", "push", "index", "push-index"]
    for arch, machine in (("amd64", "x86_64"), ("arm64", "aarch64")):
        deps = by_id[f"deps-{arch}"]["cmd"]
        assert by_id[f"deps-{arch}"]["when"] == ["wheels"]
        assert f"--target deps/{arch}" in deps and "--only-binary=:all:" in deps and f"_{machine} " in deps
        assert "--find-links deps/wheels" in deps and "-r requirements-device.txt" in deps
        assert by_id[f"build-{arch}"]["build"].startswith(f"-t {image}-{arch} -f Dockerfile --platform linux/{arch}"
                                                          f" --build-arg TARGETARCH={arch}")
        check = by_id[f"check-{arch}"]
        assert check["when"] == [f"build-{arch}"] and check["entryPoint"] == "python3"
        assert check["cmd"] == f"{image}-{arch} -c 'import azure.iot.device'"
    assert by_id["push"] == {"id": "push", "push": [f"{image}-amd64", f"{image}-arm64"],
                             "when": ["check-amd64", "check-arm64"]}
    assert by_id["index"]["cmd"] == f"docker manifest create {image} {image}-amd64 {image}-arm64"
    assert by_id["push-index"]["cmd"] == f"docker manifest push --purge {image}"
    dockerfile = (REPO / "edge" / "smoke_module" / "Dockerfile").read_text()
    assert "COPY deps/${TARGETARCH}/ /opt/smoketest/deps/" in dockerfile
    assert not [line for line in dockerfile.splitlines() if line.startswith("RUN")]  # nothing runs emulated


def test_a_set_with_a_prune_list_prunes_on_the_agent_as_locally_and_a_stale_entry_fails_the_task(tmp_path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "model.onnx").write_bytes(b"x")
    (artifacts / "model.json").write_text("{}")
    digits = REPO / "models" / "digits"
    context = assemble(digits, artifacts, tmp_path / "ctx", model_labels("digits", "1", "run-1", "c0ffee"))
    assert (Path(context.path) / "serving-prune.txt").is_file()  # travels in the uploaded context
    by_id = {s["id"]: s for s in steps_of(render_task(context, REF, scoring_check(digits), "python:3.11-slim"))}
    for arch in ("amd64", "arm64"):
        assert by_id[f"prune-{arch}"]["when"] == [f"deps-{arch}"]
        assert by_id[f"build-{arch}"]["when"] == [f"prune-{arch}"]
    # the step's own shell script, run for real on a folder shaped like the agent's workspace
    script = by_id["prune-arm64"]["cmd"].split(" sh -c ", 1)[1].strip("'")
    work = tmp_path / "workspace"
    capi = work / "deps" / "arm64" / "onnxruntime" / "capi"
    capi.mkdir(parents=True)
    (capi / "libonnxruntime.so.1.32.0").write_bytes(b"c api")
    (capi / "onnxruntime_pybind11_state.so").write_bytes(b"binding")
    for name in ("transformers", "quantization", "tools"):
        (work / "deps" / "arm64" / "onnxruntime" / name).mkdir()
        (work / "deps" / "arm64" / "onnxruntime" / name / "x.py").write_text("")
    others = [work / "deps" / "arm64" / pattern.replace("*", "x") for pattern in
              prune_patterns(lock_file("onnx")) if not pattern.startswith("onnxruntime/")]
    for path in others:  # one match for each of the set's other entries (Pillow, numpy)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    kept = work / "deps" / "arm64" / "numpy" / "_core" / "multiarray.py"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text("")
    done = subprocess.run(["sh", "-c", script], cwd=work, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert others and not any(path.exists() for path in others) and kept.is_file()
    assert sorted(p.name for p in (work / "deps" / "arm64" / "onnxruntime").rglob("*")) == [
        "capi", "onnxruntime_pybind11_state.so"]
    again = subprocess.run(["sh", "-c", script], cwd=work, capture_output=True, text=True)
    assert again.returncode == 1 and "matches nothing" in again.stderr


def test_the_fleet_reporter_task_builds_the_azure_target_with_the_device_sdk_checked_in_each_image():
    from factory.adapters.azure.acr_tasks import REPORTER_TASK_FILE, render_reporter_task

    assert REPORTER_TASK_FILE.read_text() == render_reporter_task()  # the checked-in task is the rendered one
    by_id = {s["id"]: s for s in steps_of(REPORTER_TASK_FILE.read_text())}
    image = "{{.Run.Registry}}/factory-fleet-reporter:1"
    for arch in ("amd64", "arm64"):
        assert f"--target deps/{arch}" in by_id[f"deps-{arch}"]["cmd"]
        assert by_id[f"build-{arch}"]["build"].startswith(
            f"-t {image}-{arch} -f Dockerfile --platform linux/{arch} --target azure --build-arg TARGETARCH={arch}")
        assert by_id[f"check-{arch}"]["cmd"] == f"{image}-{arch} -c 'import azure.iot.device'"
    assert by_id["push"]["when"] == ["check-amd64", "check-arm64"]
    assert by_id["push-index"]["cmd"] == f"docker manifest push --purge {image}"
    pinned = (REPORTER_TASK_FILE.parent / "requirements-device.txt").read_text().split()
    assert "azure-iot-device==2.14.0" in pinned  # pinned: the image the factory signs is reproducible
