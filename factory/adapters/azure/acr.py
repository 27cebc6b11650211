"""Azure Container Registry: an ACR Task run builds, runs and verifies the image, and pushes it only if the
check passed; promotion imports the image by digest from the dev into the prod registry.

The run is a multi-step task (``render_task``), per architecture (amd64 and arm64, in parallel):
``deps-<arch>`` (pip installs the locked wheels for that platform into ``deps/<arch>``, nothing compiled or
emulated) → ``build-<arch>`` (``--platform linux/<arch>``; the Dockerfile has only COPY steps) →
``serve-<arch>`` (detached; other steps reach it by its step id as host name) → ``verify-<arch>`` (the same
image running ``model_server.check``: wait for ``/ready``, POST the sample request, compare with the expected
response within the tolerance; a mismatch exits non-zero and fails the run). Only after every verify step:
``push`` (the per-architecture tags) → ``index`` + ``push-index`` (``docker manifest``: the image index under
the run's tag, whose digest the factory uses). Verifying arm64 needs the agent to run arm64 containers
(qemu binfmt); where it cannot, the run fails and nothing is pushed. The build context is the same
deterministic folder the local builder uses (``factory.packaging.context``), uploaded as a reproducible
``.tar.gz`` through ``get_build_source_upload_url``. The ACR Tasks API lives in
``azure-mgmt-containerregistrytasks``; imports and registries in ``azure-mgmt-containerregistry``.

Settings (``Settings.env``), all required on the azure backend unless a default is given:

- ``AZURE_SUBSCRIPTION_ID``; ``FACTORY_ACR_RESOURCE_GROUP`` (both registries' resource group);
- ``FACTORY_DEV_ACR_NAME`` and ``FACTORY_PROD_ACR_NAME`` (registry names, not login servers);
- ``FACTORY_ACR_BASE_IMAGE`` (default ``docker.io/library/python:3.11-slim-bookworm``; better a copy
  imported into your own ACR): the ``BASE_IMAGE`` build argument;
- ``FACTORY_ACR_RUN_TIMEOUT`` (seconds, default 3600), ``FACTORY_VERIFY_TIMEOUT`` (default 120).

Credentials: ``DefaultAzureCredential`` (the Function App's managed identity on Azure), which needs
"Container Registry Tasks Contributor" + AcrPull on dev and "Container Registry Data Importer and Data Reader"
on prod (no push right on prod: images get there only by import).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from factory import ports
from factory.packaging.context import CONTEXT_LABEL, LOCK_FILE, build_args, extra_labels, tar_context
from factory.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_BASE_IMAGE = "docker.io/library/python:3.11-slim-bookworm"
TERMINAL = {"Succeeded", "Failed", "Canceled", "Error", "Timeout"}
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


def render_smoke_task(base_image: str = DEFAULT_BASE_IMAGE, arches: tuple[str, ...] = ARCHES) -> str:
    """The ACR task that builds the smoke-test module (``edge/smoke_module``) as an image index, as
    ``render_task`` does a model: per architecture the IoT Hub device SDK's wheels installed for that platform
    into ``deps/<arch>`` (on the amd64 agent, nothing emulated; sdist-only ones built once into pure
    wheels), the image built for it, and its Python run
    importing the SDK; only after every check, the images and then the index pushed. Run with
    ``az acr run -r <dev ACR> -f acr-task.yaml edge/smoke_module``; the file is checked in, a test keeps it
    equal to this rendering."""
    from factory.packaging.deps import pip_platform_args

    image = f"{{{{.Run.Registry}}}}/{SMOKE_REPOSITORY}:{SMOKE_TAG}"
    # wheels first: a dependency published only as an sdist (paho-mqtt 1.x, pure Python) becomes a py3-none-any
    # wheel that every platform's install below takes from --find-links
    wheels = ["python3", "-m", "pip", "wheel", "-q", "--no-cache-dir", "-w", "deps/wheels", "-r",
              "requirements-device.txt"]
    steps: list[dict[str, Any]] = [{"id": "wheels", "cmd": f"{base_image} {' '.join(wheels)}",
                                    "workingDirectory": "/workspace", "when": ["-"]}]
    for arch in arches:
        tagged = f"{image}-{arch}"
        pip = ["python3", "-m", "pip", "install", "-q", "--no-cache-dir", "--no-compile", *pip_platform_args(arch),
               "--find-links", "deps/wheels", "--target", f"deps/{arch}", "-r", "requirements-device.txt"]
        steps += [
            {"id": f"deps-{arch}", "cmd": f"{base_image} {' '.join(pip)}", "workingDirectory": "/workspace",
             "when": ["wheels"]},
            {"id": f"build-{arch}", "build": f"-t {tagged} -f Dockerfile --platform linux/{arch} "
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
    header = ("# Generated by factory.adapters.azure.acr.render_smoke_task (a test keeps it equal): the smoke-test\n"
              "# module as an amd64 + arm64 image index. az acr run -r <dev ACR> -f acr-task.yaml edge/smoke_module\n")
    return header + yaml.safe_dump({"version": "v1.1.0", "stepTimeout": 1800, "steps": steps}, sort_keys=False,
                                   width=10_000)


def run_request(task_yaml: str, source_location: str, timeout: int = 3600) -> Any:
    """The ``EncodedTaskRunRequest`` for a rendered task and an uploaded context."""
    from azure.mgmt.containerregistrytasks import models

    return models.EncodedTaskRunRequest(
        encoded_task_content=base64.b64encode(task_yaml.encode()).decode(),
        platform=models.PlatformProperties(os="Linux", architecture="amd64"),
        source_location=source_location, timeout=timeout, is_archive_enabled=False)


def import_request(source_registry_id: str, repository: str, digest: str, target_repository: str, tag: str) -> Any:
    """The ``ImportImageParameters`` copying ``repository@digest`` into the prod registry as ``target:tag``."""
    from azure.mgmt.containerregistry import models

    return models.ImportImageParameters(
        source=models.ImportSource(resource_id=source_registry_id, source_image=f"{repository}@{digest}"),
        target_tags=[f"{target_repository}:{tag}"], mode="NoForce")


def registry_id(subscription: str, resource_group: str, name: str) -> str:
    return (f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
            f"/providers/Microsoft.ContainerRegistry/registries/{name}")


def _credential() -> Any:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


@dataclass
class AcrData:
    """Reads manifests and labels from an ACR over its data-plane API (``azure-containerregistry``)."""

    credential: Any = None
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, login_server: str) -> Any:
        if login_server not in self._clients:
            from azure.containerregistry import ContainerRegistryClient

            self._clients[login_server] = ContainerRegistryClient(f"https://{login_server}",
                                                                  self.credential or _credential())
        return self._clients[login_server]

    def digest(self, login_server: str, repository: str, tag: str) -> str | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.client(login_server).get_manifest_properties(repository, tag).digest
        except ResourceNotFoundError:
            return None

    def manifest(self, login_server: str, repository: str, reference: str) -> ports.ImageManifest:
        """A manifest (or index) with its digest and stored size (``get_manifest``, which checks the digest
        against the bytes, and ``get_manifest_properties``)."""
        from azure.core.exceptions import ResourceNotFoundError

        client = self.client(login_server)
        try:
            found = client.get_manifest(repository, reference)
            size = client.get_manifest_properties(repository, found.digest).size_in_bytes
        except ResourceNotFoundError:
            raise LookupError(f"{login_server}/{repository}@{reference}: no such manifest") from None
        return ports.ImageManifest(digest=str(found.digest), size=int(size or 0), document=dict(found.manifest),
                                   media_type=str(found.media_type or ""))

    def labels(self, login_server: str, repository: str, reference: str) -> dict[str, str]:
        """The image config's labels (of an index: its first image's)."""
        client = self.client(login_server)
        manifest = client.get_manifest(repository, reference).manifest
        if "manifests" in manifest:  # an image index: every architecture's image carries the same labels
            entries = manifest["manifests"]
            return self.labels(login_server, repository, entries[0]["digest"]) if entries else {}
        if "config" not in manifest:
            return {}
        config_digest = manifest["config"]["digest"]
        config = json.loads(b"".join(client.download_blob(repository, config_digest)))
        return dict((config.get("config") or {}).get("Labels") or {})


@dataclass
class AcrTaskImageBuilder:
    """``ImageBuilder`` on ACR Tasks; see the module docstring for settings and permissions."""

    subscription_id: str
    resource_group: str
    registry_name: str
    base_image: str = DEFAULT_BASE_IMAGE
    run_timeout: int = 3600
    ready_timeout: float = 120.0
    poll_seconds: float = 10.0
    credential: Any = None
    tasks_client: Any = None  # azure.mgmt.containerregistrytasks.ContainerRegistryTasksMgmtClient
    data: AcrData | None = None
    upload: Callable[[str, bytes], None] | None = None  # (SAS URL, bytes) -> None; default: azure-storage-blob
    download: Callable[[str], bytes] | None = None  # SAS URL -> bytes (the run log); default: azure-storage-blob

    @classmethod
    def from_settings(cls, settings: Settings) -> AcrTaskImageBuilder:
        return cls(subscription_id=settings.env("AZURE_SUBSCRIPTION_ID"),
                   resource_group=settings.env("FACTORY_ACR_RESOURCE_GROUP"),
                   registry_name=settings.env("FACTORY_DEV_ACR_NAME"),
                   base_image=settings.env("FACTORY_ACR_BASE_IMAGE", DEFAULT_BASE_IMAGE),
                   run_timeout=int(settings.env("FACTORY_ACR_RUN_TIMEOUT", "3600")),
                   ready_timeout=float(settings.env("FACTORY_VERIFY_TIMEOUT", "120")))

    def _tasks(self) -> Any:
        if self.tasks_client is None:
            from azure.mgmt.containerregistrytasks import ContainerRegistryTasksMgmtClient

            self.tasks_client = ContainerRegistryTasksMgmtClient(self.credential or _credential(),
                                                                       self.subscription_id)
        return self.tasks_client

    def _data(self) -> AcrData:
        if self.data is None:
            self.data = AcrData(self.credential)
        return self.data

    def _upload(self, url: str, payload: bytes) -> None:
        if self.upload is not None:
            self.upload(url, payload)
            return
        from azure.storage.blob import BlobClient

        BlobClient.from_blob_url(url).upload_blob(payload, overwrite=True)

    def build_verify_push(self, context: ports.BuildContext, ref: ports.ImageRef,
                          check: ports.ScoringCheck) -> ports.BuiltImage:
        """Run the build → serve → verify → push task; idempotent for the same context hash on ``ref``'s tag.

        Raises ``VerificationFailed`` with the run's log when the run did not succeed (nothing was pushed:
        ``push`` is the last step and runs only after ``verify`` passed).
        """
        data = self._data()
        digest = data.digest(ref.registry, ref.repository, ref.tag)
        if digest and data.labels(ref.registry, ref.repository, digest).get(CONTEXT_LABEL) == context.sha256:
            return ports.BuiltImage(ref=replace(ref, digest=digest), digest=digest,
                                    log_tail=f"{ref} already built from context {context.sha256}")
        tasks = self._tasks()
        source = tasks.registries.get_build_source_upload_url(self.resource_group, self.registry_name)
        self._upload(source.upload_url, tar_context(Path(context.path)))
        task_yaml = render_task(context, ref, check, self.base_image, self.ready_timeout)
        run = tasks.registries.schedule_run(self.resource_group, self.registry_name,
                                            run_request(task_yaml, source.relative_path, self.run_timeout))
        run_id = run.properties.run_id
        log.info("ACR run %s started for %s:%s", run_id, ref.repository, ref.tag)
        props = self._wait(run_id)
        run_log = self._log(run_id)
        status = getattr(props.status, "value", props.status)  # the SDK gives a str enum
        if status != "Succeeded":
            raise ports.VerificationFailed(
                f"ACR run {run_id} for {ref.repository}:{ref.tag} ended {status}: "
                f"{props.run_error_message or 'see the run log'}", run_log)
        pushed = [i for i in props.output_images or [] if i.repository == ref.repository and i.tag == ref.tag]
        digest = pushed[0].digest if pushed and pushed[0].digest else data.digest(ref.registry, ref.repository,
                                                                                  ref.tag)
        if not digest:
            raise RuntimeError(f"ACR run {run_id} succeeded but {ref.repository}:{ref.tag} has no digest")
        return ports.BuiltImage(ref=replace(ref, digest=digest), digest=digest, log_tail=run_log[-2000:])

    def _wait(self, run_id: str) -> Any:
        deadline = time.monotonic() + self.run_timeout + 300
        while True:
            props = self._tasks().runs.get(self.resource_group, self.registry_name, run_id).properties
            if props.status in TERMINAL:
                return props
            if time.monotonic() > deadline:
                raise TimeoutError(f"ACR run {run_id} still {props.status} after {self.run_timeout} s")
            time.sleep(self.poll_seconds)

    def _log(self, run_id: str) -> str:
        link = self._tasks().runs.get_log_sas_url(self.resource_group, self.registry_name, run_id).log_link
        if not link:
            return ""
        if self.download is not None:
            return self.download(link).decode(errors="replace")
        from azure.storage.blob import BlobClient

        return BlobClient.from_blob_url(link).download_blob().readall().decode(errors="replace")


@dataclass
class AcrImageRegistry:
    """``ImageRegistry`` over the dev and prod ACRs: digests by tag, promotion by ``import_image``."""

    subscription_id: str
    resource_group: str
    dev_name: str
    prod_name: str
    credential: Any = None
    mgmt_client: Any = None  # azure.mgmt.containerregistry.ContainerRegistryManagementClient
    data: AcrData | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> AcrImageRegistry:
        return cls(subscription_id=settings.env("AZURE_SUBSCRIPTION_ID"),
                   resource_group=settings.env("FACTORY_ACR_RESOURCE_GROUP"),
                   dev_name=settings.env("FACTORY_DEV_ACR_NAME"), prod_name=settings.env("FACTORY_PROD_ACR_NAME"))

    @property
    def prod_login_server(self) -> str:
        return f"{self.prod_name}.azurecr.io"

    def dev_host(self) -> str:
        """The dev ACR's login server (``<FACTORY_DEV_ACR_NAME>.azurecr.io``)."""
        return f"{self.dev_name}.azurecr.io"

    def prod_host(self) -> str:
        return self.prod_login_server

    def _mgmt(self) -> Any:
        if self.mgmt_client is None:
            from azure.mgmt.containerregistry import ContainerRegistryManagementClient

            self.mgmt_client = ContainerRegistryManagementClient(self.credential or _credential(),
                                                                 self.subscription_id)
        return self.mgmt_client

    def _data(self) -> AcrData:
        if self.data is None:
            self.data = AcrData(self.credential)
        return self.data

    def digest(self, ref: ports.ImageRef) -> str | None:
        """The manifest digest of ``ref`` by tag (or by digest, to check it exists), or None."""
        return self._data().digest(ref.registry, ref.repository, ref.digest or ref.tag)

    def manifest(self, reference: str) -> ports.ImageManifest:
        """The manifest (or index) of ``login-server/repository[:tag][@digest]`` in the dev or prod registry."""
        name, _, digest = reference.partition("@")
        host, _, path = name.partition("/")
        repository, _, tag = path.rpartition(":") if ":" in path else (path, "", "")
        return self._data().manifest(host, repository, digest or tag or "latest")

    def promote(self, source: ports.ImageRef, target_repository: str, tag: str) -> ports.ImageRef:
        """Import ``source`` by digest into prod as ``target_repository:tag``; a no-op when already there."""
        digest = source.digest or self.digest(source)
        if not digest:
            raise LookupError(f"{source}: no such image in {source.registry}")
        target = ports.ImageRef(self.prod_login_server, target_repository, tag, digest)
        if self._data().digest(self.prod_login_server, target_repository, tag) == digest:
            return target
        params = import_request(registry_id(self.subscription_id, self.resource_group, self.dev_name),
                                source.repository, digest, target_repository, tag)
        self._mgmt().registries.begin_import_image(self.resource_group, self.prod_name, params).result()
        return target


# pyright checks each adapter against its port here (a missing or mistyped method fails `make test`)
_AcrTaskImageBuilder: type[ports.ImageBuilder] = AcrTaskImageBuilder
_AcrImageRegistry: type[ports.ImageRegistry] = AcrImageRegistry
