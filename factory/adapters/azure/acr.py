"""Azure Container Registry: an ACR Task run builds, runs and verifies the image, and pushes it only if the
check passed; promotion imports the image by digest from the dev into the prod registry.

The run is a multi-step task (``acr_tasks.render_task``), per architecture (amd64 and arm64, in parallel):
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
"Container Registry Tasks Contributor" + AcrPush on dev (AcrPush includes pull: the factory writes its
signatures and attestations there) and "Container Registry Data Importer and Data Reader" + AcrPush on prod
(images get there only by import; AcrPush writes the copied signatures and attestations beside them).
The supply chain's manifests and blobs go through ``acr_artifacts`` (``AcrImageRegistry.artifacts``).
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

from factory import ports
from factory.adapters.azure.acr_tasks import DEFAULT_BASE_IMAGE, render_task
from factory.packaging.context import CONTEXT_LABEL, tar_context
from factory.settings import Settings

log = logging.getLogger(__name__)

TERMINAL = {"Succeeded", "Failed", "Canceled", "Error", "Timeout"}


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
    client_options: dict[str, Any] = field(default_factory=dict)  # ContainerRegistryClient keywords (transport)
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, login_server: str) -> Any:
        if login_server not in self._clients:
            from azure.containerregistry import ContainerRegistryClient

            self._clients[login_server] = ContainerRegistryClient(f"https://{login_server}",
                                                                  self.credential or _credential(),
                                                                  **self.client_options)
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

    def artifacts(self, host: str) -> ports.ArtifactStore:
        """The signatures' and attestations' store on the dev or prod ACR (``acr_artifacts``); ``ValueError``
        for any other host, so the managed identity's token goes to these two registries only."""
        from factory.adapters.azure.acr_artifacts import AcrArtifactStore

        if host not in (self.dev_host(), self.prod_host()):
            raise ValueError(f"{host}: not the factory's dev ({self.dev_host()}) or prod ({self.prod_host()}) ACR")
        return AcrArtifactStore(host, self._data().client(host))

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
