"""ACR Task YAML, rendered: the multi-step task that builds, runs, verifies and pushes a model's image index
(``render_task``; ``acr.AcrTaskImageBuilder`` runs it), and the tasks that build the factory's own IoT Edge
modules: the smoke-test module (``render_smoke_task``, checked in as ``edge/smoke_module/acr-task.yaml``) and the
fleet reporter (``render_reporter_task``, ``edge/fleet_reporter/acr-task.yaml``). Pure rendering: nothing here
calls Azure."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import yaml

from factory import ports
from factory.packaging.context import LOCK_FILE, build_args, extra_labels

DEFAULT_BASE_IMAGE = "docker.io/library/python:3.11-slim-bookworm"
ARCHES = ("amd64", "arm64")


def _b64(document: Any) -> str:
    return base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()


def _arch_steps(context: ports.BuildContext, image: str, check: ports.ScoringCheck, base_image: str,
                ready_timeout: float, arch: str) -> list[dict[str, Any]]:
    """deps-<arch> → build-<arch> → serve-<arch> (detached) → verify-<arch> for one architecture."""
    from factory.packaging.deps import PRUNE_FILE, pip_platform_args, prune_patterns

    tagged = f"{image}-{arch}"
    pip = ["python3", "-m", "pip", "install", "-q", "--no-cache-dir", "--no-deps", "--no-compile", "--require-hashes",
           *pip_platform_args(arch), "--target", f"deps/{arch}", "-r", "requirements.lock"]
    build = [f"-t {tagged}", "-f Dockerfile", f"--platform linux/{arch}", f"--build-arg TARGETARCH={arch}",
             f"--build-arg BASE_IMAGE={base_image}"]
    build += [f"--build-arg {name}={value}" for name, value in build_args(context).items()]
    build += [f'--label "{name}={value}"' for name, value in extra_labels(context).items()]
    build.append(".")
    expected = check.expected_document
    steps: list[dict[str, Any]] = [
        {"id": f"deps-{arch}", "cmd": f"{base_image} {' '.join(pip)}", "workingDirectory": "/workspace",
         "when": ["-"]}]
    patterns = prune_patterns(Path(context.path) / LOCK_FILE)
    if patterns:  # as deps.prune does locally: every entry must match, then it is removed
        listed = " ".join(patterns)
        script = (f"cd deps/{arch} && for p in {listed}; do [ -e \"$p\" ] || "
                  f"{{ echo \"{PRUNE_FILE}: $p matches nothing\" >&2; exit 1; }}; done && rm -rf -- {listed}")
        steps.append({"id": f"prune-{arch}", "cmd": f"{base_image} sh -c '{script}'",
                      "workingDirectory": "/workspace", "when": [f"deps-{arch}"]})
    return [
        *steps,
        {"id": f"build-{arch}", "build": " ".join(build), "when": [steps[-1]["id"]]},
        {"id": f"serve-{arch}", "cmd": tagged, "detach": True, "when": [f"build-{arch}"]},
        {"id": f"verify-{arch}",
         "cmd": f"{tagged} python3 -m model_server.check --url http://serve-{arch}:{check.port}"
                f" --path {check.path} --timeout {int(ready_timeout)}",
         "env": [f"CHECK_REQUEST_B64={_b64(check.request)}", f"CHECK_EXPECTED_B64={_b64(expected)}"],
         "when": [f"serve-{arch}"], "timeout": int(ready_timeout) + 60},
    ]


def render_task(context: ports.BuildContext, ref: ports.ImageRef, check: ports.ScoringCheck, base_image: str,
                ready_timeout: float = 120.0, arches: tuple[str, ...] = ARCHES) -> str:
    """The multi-step ACR task YAML for one build: per architecture (in parallel) the locked wheels installed
    into ``deps/<arch>`` (pip on the amd64 agent, ``--platform``: nothing runs emulated), the image built for
    that platform, run and verified; then, only after every ``verify-<arch>`` passed, the per-architecture
    images pushed and the image index (``docker manifest``) pushed under ``ref``'s tag."""
    image = f"{{{{.Run.Registry}}}}/{ref.repository}:{ref.tag}"
    steps: list[dict[str, Any]] = []
    for arch in arches:
        steps += _arch_steps(context, image, check, base_image, ready_timeout, arch)
    verified = [f"verify-{arch}" for arch in arches]
    tagged = [f"{image}-{arch}" for arch in arches]
    steps += [
        {"id": "push", "push": tagged, "when": verified},
        {"id": "index", "cmd": f"docker manifest create {image} {' '.join(tagged)}", "when": ["push"]},
        {"id": "push-index", "cmd": f"docker manifest push --purge {image}", "when": ["index"]},
    ]
    task = {"version": "v1.1.0", "stepTimeout": 1800, "steps": steps}
    return yaml.safe_dump(task, sort_keys=False, width=10_000)


SMOKE_REPOSITORY = "factory-edge-smoke"
SMOKE_TAG = "1"
SMOKE_TASK_FILE = Path(__file__).resolve().parents[3] / "edge" / "smoke_module" / "acr-task.yaml"
REPORTER_REPOSITORY = "factory-fleet-reporter"
REPORTER_TAG = "1"
REPORTER_TASK_FILE = Path(__file__).resolve().parents[3] / "edge" / "fleet_reporter" / "acr-task.yaml"


def render_smoke_task(base_image: str = DEFAULT_BASE_IMAGE, arches: tuple[str, ...] = ARCHES) -> str:
    """The ACR task that builds the smoke-test module (``edge/smoke_module``) as an image index
    (``render_device_module_task``). Run with ``az acr run -r <dev ACR> -f acr-task.yaml edge/smoke_module``; the
    file is checked in, a test keeps it equal to this rendering."""
    header = ("# Generated by factory.adapters.azure.acr_tasks.render_smoke_task (a test keeps it equal): the\n"
              "# smoke-test module as an amd64 + arm64 image index.\n"
              "# az acr run -r <dev ACR> -f acr-task.yaml edge/smoke_module\n")
    return header + render_device_module_task(SMOKE_REPOSITORY, SMOKE_TAG, base_image, arches)


def render_reporter_task(base_image: str = DEFAULT_BASE_IMAGE, arches: tuple[str, ...] = ARCHES) -> str:
    """The ACR task that builds the fleet reporter (``edge/fleet_reporter``, Dockerfile target ``azure``: with
    the IoT Hub device SDK) as an image index (``render_device_module_task``). Run with ``az acr run -r <dev ACR>
    -f acr-task.yaml edge/fleet_reporter``; checked in, a test keeps it equal to this rendering."""
    header = ("# Generated by factory.adapters.azure.acr_tasks.render_reporter_task (a test keeps it equal): the\n"
              "# fleet reporter module (Dockerfile target azure) as an amd64 + arm64 image index.\n"
              "# az acr run -r <dev ACR> -f acr-task.yaml edge/fleet_reporter\n")
    return header + render_device_module_task(REPORTER_REPOSITORY, REPORTER_TAG, base_image, arches, target="azure")


def render_device_module_task(repository: str, tag: str, base_image: str = DEFAULT_BASE_IMAGE,
                              arches: tuple[str, ...] = ARCHES, target: str = "") -> str:
    """The ACR task that builds a factory IoT Edge module folder as an image index, as ``render_task`` does a
    model: per architecture the IoT Hub device SDK's wheels (``requirements-device.txt``) installed for that
    platform into ``deps/<arch>`` (on the amd64 agent, nothing emulated; sdist-only ones built once into pure
    wheels), the image built for it (Dockerfile ``target`` when given), and its Python run importing the SDK;
    only after every check, the images and then the index pushed."""
    from factory.packaging.deps import pip_platform_args

    image = f"{{{{.Run.Registry}}}}/{repository}:{tag}"
    # wheels first: a dependency published only as an sdist (paho-mqtt 1.x, pure Python) becomes a py3-none-any
    # wheel that every platform's install below takes from --find-links
    wheels = ["python3", "-m", "pip", "wheel", "-q", "--no-cache-dir", "-w", "deps/wheels", "-r",
              "requirements-device.txt"]
    steps: list[dict[str, Any]] = [{"id": "wheels", "cmd": f"{base_image} {' '.join(wheels)}",
                                    "workingDirectory": "/workspace", "when": ["-"]}]
    stage = f" --target {target}" if target else ""
    for arch in arches:
        tagged = f"{image}-{arch}"
        pip = ["python3", "-m", "pip", "install", "-q", "--no-cache-dir", "--no-compile", *pip_platform_args(arch),
               "--find-links", "deps/wheels", "--target", f"deps/{arch}", "-r", "requirements-device.txt"]
        steps += [
            {"id": f"deps-{arch}", "cmd": f"{base_image} {' '.join(pip)}", "workingDirectory": "/workspace",
             "when": ["wheels"]},
            {"id": f"build-{arch}", "build": f"-t {tagged} -f Dockerfile --platform linux/{arch}{stage} "
                                             f"--build-arg TARGETARCH={arch} --build-arg BASE_IMAGE={base_image} .",
             "when": [f"deps-{arch}"]},
            {"id": f"check-{arch}", "cmd": f"{tagged} -c 'import azure.iot.device'", "entryPoint": "python3",
             "when": [f"build-{arch}"]},
        ]
    tagged = [f"{image}-{arch}" for arch in arches]
    steps += [
        {"id": "push", "push": tagged, "when": [f"check-{arch}" for arch in arches]},
        {"id": "index", "cmd": f"docker manifest create {image} {' '.join(tagged)}", "when": ["push"]},
        {"id": "push-index", "cmd": f"docker manifest push --purge {image}", "when": ["index"]},
    ]
    return yaml.safe_dump({"version": "v1.1.0", "stepTimeout": 1800, "steps": steps}, sort_keys=False, width=10_000)
