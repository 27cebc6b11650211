"""The deployment manifest: built for every model (and a test model), valid against the published schema."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest

from factory.adapters.azure.iothub_mapping import content_from_twins, system_only_content
from factory.edge.manifest import (
    SCHEMA_PATH,
    SMOKE_MODULE,
    ManifestError,
    RegistryCredential,
    SmokeCase,
    SmokeDeployment,
    build_manifest,
    join_create_options,
    load_model_cases,
    registry_credentials_from_settings,
    split_create_options,
    validate_manifest,
)
from factory.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "ef" * 32
MODEL_DIRS = sorted(p.parent for p in (ROOT / "models").glob("*/model.yaml"))
TEST_CASES = [SmokeCase("two rows", {"data": [[1, 2], [3, 4]]}, {"predictions": [6.0, 14.0]})]


def deployment(**overrides) -> SmokeDeployment:
    values = {"run_id": "run-1", "model": "test_model", "model_image": f"127.0.0.1:5000/test_model@{DIGEST}",
              "smoke_image": f"127.0.0.1:5000/smoketest@{DIGEST}", "cases": TEST_CASES, **overrides}
    return SmokeDeployment(**values)


def test_shipped_schema_is_the_published_one_unchanged():
    assert hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest() == \
        "2eb4e0299316e8b8b484459d23d153e0c03f05eaa7aea93a7cfbd0657f5c70b3"
    assert json.loads(SCHEMA_PATH.read_text())["id"] == "https://json.schemastore.org/azure-iot-edge-deployment-2.0.json"


def test_test_model_manifest_is_valid_and_complete():
    creds = [RegistryCredential("devacr.azurecr.io", "devacr", "secret-from-key-vault")]
    content = build_manifest(deployment(registries=creds))["modulesContent"]
    agent = content["$edgeAgent"]["properties.desired"]
    assert agent["systemModules"]["edgeAgent"]["settings"]["image"] == "mcr.microsoft.com/azureiotedge-agent:1.4"
    assert agent["systemModules"]["edgeHub"]["settings"]["image"] == "mcr.microsoft.com/azureiotedge-hub:1.4"
    assert agent["runtime"]["settings"]["registryCredentials"]["factoryregistry"]["address"] == "devacr.azurecr.io"
    model = agent["modules"]["test-model"]
    assert model["settings"]["image"].endswith("@" + DIGEST)
    assert "5001/tcp" in join_create_options(model["settings"])["ExposedPorts"]
    desired = content[SMOKE_MODULE]["properties.desired"]
    assert desired["runId"] == "run-1" and desired["modelUrl"] == "http://test-model:5001"
    case = desired["cases"]["two_rows"]
    assert json.loads(case["request"]) == {"data": [[1, 2], [3, 4]]} and case["absTol"] == 1e-6
    assert content["$edgeHub"]["properties.desired"]["routes"]


@pytest.mark.parametrize("model_dir", MODEL_DIRS, ids=[p.name for p in MODEL_DIRS])
def test_every_model_manifest_validates(model_dir):
    cases = load_model_cases(model_dir)
    manifest = build_manifest(deployment(model=model_dir.name, cases=cases))
    validate_manifest(manifest)
    assert json.loads(manifest["modulesContent"][SMOKE_MODULE]["properties.desired"]["cases"]["sample-request"]
                      ["request"]) == json.loads((model_dir / "model" / "sample-request.json").read_text())


def test_model_image_must_be_pinned_by_digest():
    with pytest.raises(ManifestError, match="model_image must be pinned by digest"):
        build_manifest(deployment(model_image="127.0.0.1:5000/test_model:latest"))


def test_schema_violations_are_reported_with_their_path():
    manifest = build_manifest(deployment())
    broken = copy.deepcopy(manifest)
    broken["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]["test-model"]["restartPolicy"] = "sometimes"
    del broken["modulesContent"]["$edgeHub"]["properties.desired"]["routes"]
    with pytest.raises(ManifestError) as err:
        validate_manifest(broken)
    assert "modules/test-model/restartPolicy: 'sometimes' is not one of" in str(err.value)
    assert "$edgeHub/properties.desired: 'routes' is a required property" in str(err.value)


def test_long_create_options_are_split_in_512_character_chunks_and_rejoined():
    options = {"Env": [f"VAR_{i}=" + "x" * 40 for i in range(40)], "HostConfig": {"Memory": 1}}
    chunks = split_create_options(options)
    assert list(chunks)[:3] == ["createOptions", "createOptions01", "createOptions02"]
    assert all(len(c) <= 512 for c in chunks.values())
    assert join_create_options(chunks) == options


def test_desired_properties_over_32kb_are_rejected():
    big = [SmokeCase(f"case {i}", {"data": [[float(j) for j in range(200)]]}, {"predictions": [1.0]})
           for i in range(40)]
    with pytest.raises(ManifestError, match="IoT Hub allows 32768"):
        build_manifest(deployment(cases=big))


def test_cases_from_a_model_folder_with_and_without_tolerance(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "sample-request.json").write_text('{"data": [[1, 2]]}')
    (tmp_path / "model" / "expected-response.json").write_text('{"predictions": [3.0], "tolerance": 0.01}')
    [case] = load_model_cases(tmp_path)
    assert case.expected == {"predictions": [3.0]} and case.abs_tol == 0.01
    (tmp_path / "model" / "expected-response.json").write_text('{"predictions": [3.0]}')
    assert load_model_cases(tmp_path, tolerance={"abs": 0, "rel": 0.001})[0].rel_tol == 0.001
    (tmp_path / "model" / "sample-request.json").unlink()
    with pytest.raises(ManifestError, match="sample-request.json: missing"):
        load_model_cases(tmp_path)


def test_registry_credentials_come_from_settings_only():
    assert registry_credentials_from_settings(Settings.from_env({})) == []
    settings = Settings.from_env({"EDGE_REGISTRY_ADDRESS": "devacr.azurecr.io", "EDGE_REGISTRY_USERNAME": "u",
                                  "EDGE_REGISTRY_PASSWORD": "p"})
    assert registry_credentials_from_settings(settings) == [RegistryCredential("devacr.azurecr.io", "u", "p")]


def test_iothub_snapshot_rebuilds_modules_content_and_empty_device_restores_to_system_modules():
    content = build_manifest(deployment())["modulesContent"]
    twins = {name: {**body["properties.desired"], "$version": 3, "$metadata": {}} for name, body in content.items()}
    assert content_from_twins(twins) == content
    assert content_from_twins({"$edgeAgent": {"$version": 1}}) == {}
    validate_manifest({"modulesContent": system_only_content()})
