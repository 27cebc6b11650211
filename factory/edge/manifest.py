"""The IoT Edge deployment manifest for one smoke test: the model module next to the smoke-test module.

``build_manifest`` returns ``{"modulesContent": {...}}`` exactly as IoT Hub's
``apply_configuration_on_edge_device`` and the local edge simulator take it:

- ``$edgeAgent``: docker runtime settings, registry credentials (from settings, never literals), the system
  modules edgeAgent and edgeHub 1.4 from MCR, the model module pinned by image digest with its createOptions
  (port 5001 exposed on the module network) and the smoke module.
- ``$edgeHub``: routes (the smoke module's outputs go upstream).
- the smoke module's twin: desired properties with the run id, the model module's address, the cases
  (sample request, expected response, tolerance) and timeouts.

Every manifest is validated against the published deployment manifest schema (``schema/``) plus the IoT Hub
limits the schema does not express (createOptions chunks of 512 characters, 32 KB of desired properties).
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import jsonschema

SCHEMA_PATH = Path(__file__).with_name("schema") / "azure-iot-edge-deployment-2.0.json"
SYSTEM_MODULES_VERSION = "1.4"
EDGE_AGENT_IMAGE = f"mcr.microsoft.com/azureiotedge-agent:{SYSTEM_MODULES_VERSION}"
EDGE_HUB_IMAGE = f"mcr.microsoft.com/azureiotedge-hub:{SYSTEM_MODULES_VERSION}"
SMOKE_MODULE = "smoketest"
MODEL_PORT = 5001
CREATE_OPTIONS_CHUNK = 512  # IoT Hub limit per createOptions string; longer ones continue in createOptions01..
DESIRED_MAX_BYTES = 32 * 1024  # IoT Hub limit for a twin's desired properties
REGISTRY_CREDENTIAL_NAME = "factoryregistry"
_TWIN_KEY = re.compile(r"[^A-Za-z0-9_-]")


class ManifestError(ValueError):
    """A manifest (or its inputs) is not valid; the message names the field and what was expected."""


@dataclass(frozen=True)
class SmokeCase:
    """One scoring case: the request, the response it must produce, and the tolerance for numbers."""

    name: str
    request: Any
    expected: Any
    abs_tol: float = 1e-6
    rel_tol: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SmokeCase:
        """From ``{"name", "request", "expected", "tolerance"}``; tolerance is a number (absolute) or
        ``{"abs": .., "rel": ..}``."""
        tolerance = data.get("tolerance", 1e-6)
        if isinstance(tolerance, dict):
            bounds = _object(tolerance)
            abs_tol, rel_tol = float(bounds.get("abs", 0.0)), float(bounds.get("rel", 0.0))
        else:
            abs_tol, rel_tol = float(tolerance), 0.0
        for key in ("name", "request", "expected"):
            if key not in data:
                raise ManifestError(f"smoke case {data.get('name', '?')!r}: missing field {key!r}")
        return cls(str(data["name"]), data["request"], data["expected"], abs_tol, rel_tol)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "request": self.request, "expected": self.expected,
                "tolerance": {"abs": self.abs_tol, "rel": self.rel_tol}}


@dataclass(frozen=True)
class RegistryCredential:
    """Credentials the edge runtime uses to pull from a private registry."""

    address: str
    username: str
    password: str
    name: str = REGISTRY_CREDENTIAL_NAME


@dataclass(frozen=True)
class SmokeDeployment:
    """Everything one smoke-test deployment needs."""

    run_id: str
    model: str
    model_image: str  # registry/repository@sha256:...
    smoke_image: str  # registry/repository@sha256:... (or a local tag for development)
    cases: list[SmokeCase]
    ready_timeout_seconds: int = 300
    request_timeout_seconds: int = 30
    repeat: int = 5  # each case is scored this many times for the latency percentiles
    registries: list[RegistryCredential] = field(default_factory=list[RegistryCredential])


def module_name(model: str) -> str:
    """The IoT Edge module name (and host name on the module network) for a model: ``nyc_taxi`` -> ``nyc-taxi``."""
    name = re.sub(r"[^a-z0-9-]+", "-", model.lower()).strip("-")
    if not name:
        raise ManifestError(f"model name {model!r} gives an empty module name")
    if name == SMOKE_MODULE:
        name = f"model-{name}"
    return name[:63]


def split_create_options(options: dict[str, Any]) -> dict[str, str]:
    """``createOptions`` as IoT Hub stores it: a JSON string in chunks of at most 512 characters
    (``createOptions``, ``createOptions01``, ``createOptions02``, ...)."""
    text = json.dumps(options, separators=(",", ":"), sort_keys=True)
    chunks = [text[i:i + CREATE_OPTIONS_CHUNK] for i in range(0, len(text), CREATE_OPTIONS_CHUNK)] or ["{}"]
    return {("createOptions" if i == 0 else f"createOptions{i:02d}"): chunk for i, chunk in enumerate(chunks)}


def join_create_options(settings: dict[str, Any]) -> dict[str, Any]:
    """The createOptions object of a module's ``settings`` (re-joins the chunks); ``{}`` when absent."""
    keys = sorted((k for k in settings if re.fullmatch(r"(createOptions|createoptions)[0-9]*", k)),
                  key=lambda k: int(k[len("createOptions"):] or -1))
    if not keys:
        return {}
    text = "".join(settings[k] for k in keys)
    try:
        options = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"createOptions is not valid JSON: {exc}") from exc
    if not isinstance(options, dict):
        raise ManifestError(f"createOptions must be a JSON object, got {type(options).__name__}")
    return _object(options)


def _twin_key(name: str) -> str:
    key = _TWIN_KEY.sub("_", name)
    if not key:
        raise ManifestError(f"case name {name!r} gives an empty twin property key")
    return key


def encode_cases(cases: list[SmokeCase]) -> dict[str, Any]:
    """Cases as twin desired properties. Twin values are objects, strings, numbers and booleans (no arrays)
    and keys exclude ``.``, ``$`` and spaces, so each case is keyed by its sanitised name and its request
    and expected response travel as JSON strings."""
    if not cases:
        raise ManifestError("a smoke deployment needs at least one case (sample request + expected response)")
    encoded: dict[str, Any] = {}
    for index, case in enumerate(cases):
        key = _twin_key(case.name)
        if key in encoded:
            key = f"{key}_{index}"
        for label, tol in (("abs", case.abs_tol), ("rel", case.rel_tol)):
            if not (math.isfinite(tol) and tol >= 0):
                raise ManifestError(f"case {case.name!r}: tolerance {label} must be a finite number >= 0, got {tol}")
        encoded[key] = {"name": case.name, "order": index,
                        "request": json.dumps(case.request, separators=(",", ":")),
                        "expected": json.dumps(case.expected, separators=(",", ":")),
                        "absTol": case.abs_tol, "relTol": case.rel_tol}
    return encoded


def _require_digest(field_name: str, image: str) -> None:
    if not re.search(r"@sha256:[0-9a-f]{64}$", image):
        raise ManifestError(f"{field_name} must be pinned by digest (registry/repository@sha256:<64 hex>), "
                            f"got {image!r}")


def smoke_desired_properties(dep: SmokeDeployment) -> dict[str, Any]:
    """The smoke module's twin desired properties for this run."""
    return {
        "runId": dep.run_id,
        "model": dep.model,
        "modelUrl": f"http://{module_name(dep.model)}:{MODEL_PORT}",
        "readyPath": "/ready",
        "scorePath": "/score",
        "readyTimeoutSeconds": dep.ready_timeout_seconds,
        "requestTimeoutSeconds": dep.request_timeout_seconds,
        "repeat": dep.repeat,
        "cases": encode_cases(dep.cases),
    }


def build_manifest(dep: SmokeDeployment) -> dict[str, Any]:
    """The validated deployment manifest (``{"modulesContent": ...}``) for one smoke test."""
    _require_digest("model_image", dep.model_image)
    if not dep.run_id:
        raise ManifestError("run_id must not be empty: the smoke module reports against it")
    model_module = module_name(dep.model)
    credentials = {c.name: {"username": c.username, "password": c.password, "address": c.address}
                   for c in dep.registries}
    edge_hub_options = {"HostConfig": {"PortBindings": {"5671/tcp": [{"HostPort": "5671"}],
                                                        "8883/tcp": [{"HostPort": "8883"}],
                                                        "443/tcp": [{"HostPort": "443"}]}}}
    model_options: dict[str, Any] = {"ExposedPorts": {f"{MODEL_PORT}/tcp": {}},
                                     "HostConfig": {"Memory": 1024 * 1024 * 1024}}
    smoke_options = {"HostConfig": {"Memory": 256 * 1024 * 1024}}
    manifest = {"modulesContent": {
        "$edgeAgent": {"properties.desired": {
            "schemaVersion": "1.1",
            "runtime": {"type": "docker", "settings": {"minDockerVersion": "v1.25", "loggingOptions": "",
                                                       "registryCredentials": credentials}},
            "systemModules": {
                "edgeAgent": {"type": "docker", "settings": {"image": EDGE_AGENT_IMAGE, "createOptions": "{}"}},
                "edgeHub": {"type": "docker", "status": "running", "restartPolicy": "always", "startupOrder": 0,
                            "settings": {"image": EDGE_HUB_IMAGE, **split_create_options(edge_hub_options)}},
            },
            "modules": {
                model_module: {
                    "version": "1.0", "type": "docker", "status": "running", "restartPolicy": "always",
                    "startupOrder": 1, "imagePullPolicy": "on-create",
                    "env": {"MODEL_NAME": {"value": dep.model}, "PORT": {"value": str(MODEL_PORT)}},
                    "settings": {"image": dep.model_image, **split_create_options(model_options)},
                },
                SMOKE_MODULE: {
                    "version": "1.0", "type": "docker", "status": "running", "restartPolicy": "always",
                    "startupOrder": 2, "imagePullPolicy": "on-create",
                    "env": {"SMOKE_RUN_ID": {"value": dep.run_id}},
                    "settings": {"image": dep.smoke_image, **split_create_options(smoke_options)},
                },
            },
        }},
        "$edgeHub": {"properties.desired": {
            "schemaVersion": "1.2",
            "routes": {"smokeToUpstream": {"route": f"FROM /messages/modules/{SMOKE_MODULE}/outputs/* INTO $upstream",
                                           "priority": 0, "timeToLiveSecs": 86400}},
            "storeAndForwardConfiguration": {"timeToLiveSecs": 7200},
        }},
        SMOKE_MODULE: {"properties.desired": smoke_desired_properties(dep)},
    }}
    validate_manifest(manifest)
    return manifest


@functools.cache
def _validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def _object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else ``{}`` (the schema check reports what it should have been)."""
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


def validate_manifest(manifest: dict[str, Any]) -> None:
    """Raise ``ManifestError`` naming every violation of the published schema and of IoT Hub's limits."""
    errors: list[jsonschema.ValidationError] = list(_validator().iter_errors(manifest))  # pyright: ignore[reportUnknownMemberType]
    problems = [f"{'/'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
                for err in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path])]
    content = _object(manifest.get("modulesContent"))
    agent = _object(_object(content.get("$edgeAgent")).get("properties.desired"))
    all_modules = {**_object(agent.get("systemModules")), **_object(agent.get("modules"))}
    for name, module in all_modules.items():
        settings = _object(_object(module).get("settings"))
        for key, value in settings.items():
            if key.lower().startswith("createoptions") and isinstance(value, str) and len(value) > CREATE_OPTIONS_CHUNK:
                problems.append(f"modulesContent/$edgeAgent/properties.desired/modules/{name}/settings/{key}: "
                                f"{len(value)} characters, IoT Hub allows {CREATE_OPTIONS_CHUNK} per chunk")
        try:
            join_create_options(settings)
        except ManifestError as exc:
            problems.append(f"modulesContent/$edgeAgent/properties.desired/modules/{name}/settings: {exc}")
    for twin, body in content.items():
        desired = _object(_object(body).get("properties.desired"))
        size = len(json.dumps(desired, separators=(",", ":")).encode())
        if size > DESIRED_MAX_BYTES:
            problems.append(f"modulesContent/{twin}/properties.desired: {size} bytes, IoT Hub allows "
                            f"{DESIRED_MAX_BYTES}; use fewer or smaller smoke cases")
    if problems:
        raise ManifestError("deployment manifest is not valid:\n  " + "\n  ".join(problems))


def registry_credentials_from_settings(settings: Any) -> list[RegistryCredential]:
    """Registry credentials from settings: ``EDGE_REGISTRY_ADDRESS``, ``EDGE_REGISTRY_USERNAME`` and
    ``EDGE_REGISTRY_PASSWORD`` (on Azure an app setting that is a Key Vault reference). No address: none
    (local registries need no login)."""
    address = settings.env("EDGE_REGISTRY_ADDRESS", "")
    if not address:
        return []
    return [RegistryCredential(address=address, username=settings.env("EDGE_REGISTRY_USERNAME"),
                               password=settings.env("EDGE_REGISTRY_PASSWORD"))]


def load_model_cases(model_dir: Path, tolerance: Any = None) -> list[SmokeCase]:
    """The smoke case of a model folder: ``model/sample-request.json`` and ``model/expected-response.json``.

    The expected response may carry its tolerance (``{"predictions": [...], "tolerance": ...}``); otherwise
    ``tolerance`` (or 1e-6) is used.
    """
    request_path = model_dir / "model" / "sample-request.json"
    expected_path = model_dir / "model" / "expected-response.json"
    for path in (request_path, expected_path):
        if not path.is_file():
            raise ManifestError(f"{path}: missing; every model needs a sample request and its expected response")
    try:
        request = json.loads(request_path.read_text())
        expected = json.loads(expected_path.read_text())
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{model_dir}/model: sample request or expected response is not JSON: {exc}") from exc
    if isinstance(expected, dict) and "tolerance" in expected:
        fields = _object(expected)
        tolerance = fields["tolerance"]
        expected = {k: v for k, v in fields.items() if k != "tolerance"}
    case: dict[str, Any] = {"name": "sample-request", "request": request, "expected": expected}
    if tolerance is not None:
        case["tolerance"] = tolerance
    return [SmokeCase.from_dict(case)]
