"""What the factory needs from the outside world, nothing about who provides it.

One small ``Protocol`` per capability, in the spirit of ZenML's stack components. Adapters live in
``factory/adapters/azure`` and ``factory/adapters/local``; ``factory/backends.py`` is the one place that
chooses them from settings. Every value crossing a port is a plain dataclass that round-trips through
``to_dict``/``from_dict`` (``contract.Record``) so it can travel through Durable Functions activity inputs
and outputs; the records the orchestrators also read live in ``contract``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

from contract import EdgeLease, JobLink, Record, TrainingJob

if TYPE_CHECKING:
    from factory.edge.pool import Device
    from factory.settings import Settings
    from factory.supplychain.oci import Manifest


@dataclass(frozen=True)
class TrainingRequest(Record):
    """One training of one model on one uploaded data file."""

    model: str
    run_id: str
    data_uri: str  # blob URL (azure) or local path / blob URL (local)
    data_etag: str = ""
    data_sha256: str = ""  # the validated bytes' hash; the training step checks it
    source_commit: str = ""


@dataclass(frozen=True)
class ModelVersion(Record):
    """A registered model version with its metrics and tags."""

    name: str
    version: str
    metrics: dict[str, float] = field(default_factory=dict[str, float])
    tags: dict[str, str] = field(default_factory=dict[str, str])
    artifact_uri: str = ""


@dataclass(frozen=True)
class ImageRef(Record):
    """Where an image lives: ``registry/repository:tag`` and, once pushed, ``@digest``."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    def __str__(self) -> str:
        if self.digest:
            tag = f":{self.tag}" if self.tag else ""
            return f"{self.registry}/{self.repository}{tag}@{self.digest}"
        return f"{self.registry}/{self.repository}:{self.tag}"


@dataclass(frozen=True)
class ScoringCheck(Record):
    """The verification an image must pass before it is stored: a sample request and what it must answer."""

    request: Any
    expected: Any
    tolerance: float = 1e-6  # numbers match within this absolute difference ...
    port: int = 5001
    path: str = "/score"
    rel_tolerance: float = 0.0  # ... or this fraction of the larger value (math.isclose)

    @property
    def expected_document(self) -> dict[str, Any]:
        """The ``expected-response.json`` this check reads back (``model_server.compare.split_expected``)."""
        return {**self.expected, "tolerance": {"abs": self.tolerance, "rel": self.rel_tolerance}
                if self.rel_tolerance else self.tolerance}


@dataclass(frozen=True)
class ImageManifest(Record):
    """A manifest (or image index) as its registry stores it: digest, size in bytes, media type, JSON document."""

    digest: str
    size: int
    document: dict[str, Any] = field(default_factory=dict[str, Any])
    media_type: str = ""


@dataclass(frozen=True)
class BlobProperties(Record):
    """A blob's version (``etag``, ``version_id`` where versioning is on), its size in bytes and when it was last
    written (ISO 8601, UTC; "" when not known)."""

    etag: str
    size: int
    version_id: str = ""
    last_modified: str = ""


@dataclass(frozen=True)
class BuildContext(Record):
    """A deterministic build context folder and its content hash."""

    path: str
    sha256: str
    labels: dict[str, str] = field(default_factory=dict[str, str])


@dataclass(frozen=True)
class BuiltImage(Record):
    """An image that passed verification and was pushed."""

    ref: ImageRef
    digest: str
    log_tail: str = ""
    arches: list[str] = field(default_factory=list[str])  # the architectures verified
    base_images: dict[str, str] = field(default_factory=dict[str, str])  # per arch: the base image and its id


class BlobNotFound(LookupError):
    """The blob does not exist."""


class BlobChanged(RuntimeError):
    """The blob is no longer the version asked for (its ETag changed: overwritten)."""


class VerificationFailed(RuntimeError):
    """An image failed its scoring check; nothing was pushed. ``logs`` holds the container's output."""

    def __init__(self, message: str, logs: str = "") -> None:
        super().__init__(message)
        self.logs = logs


@runtime_checkable
class Trainer(Protocol):
    def submit(self, request: TrainingRequest) -> TrainingJob:
        """Start the model's pipeline; idempotent for the same run id (same job name)."""
        ...

    def job_link(self, job_name: str, model_version: str = "") -> JobLink:
        """Where a person sees the job (and ``model_version``, the version it registered). Reads no remote
        service."""
        ...


@runtime_checkable
class ModelRegistry(Protocol):
    def get(self, name: str, version: str) -> ModelVersion:
        """One registered version with metrics and tags."""
        ...

    def production(self, name: str) -> ModelVersion | None:
        """The version currently marked as production, if any."""
        ...

    def versions(self, name: str) -> list[ModelVersion]:
        """Every registered version of ``name``, oldest first (empty when never registered)."""
        ...

    def download(self, name: str, version: str, dest: Path) -> Path:
        """Copy the version's artifacts into ``dest``; returns the folder holding them."""
        ...

    def mark_production(self, name: str, version: str) -> None:
        """Mark ``version`` as the production version of ``name``."""
        ...


@runtime_checkable
class ImageBuilder(Protocol):
    def build_verify_push(self, context: BuildContext, ref: ImageRef, check: ScoringCheck) -> BuiltImage:
        """Build, run the scoring check, push only if it passed. Idempotent for the same context hash.

        Raises ``VerificationFailed`` (with the container's logs) when the check fails.
        """
        ...


@runtime_checkable
class ImageRegistry(Protocol):
    def dev_host(self) -> str:
        """The dev registry's host (login server), where verified images are pushed."""
        ...

    def prod_host(self) -> str:
        """The prod registry's host (login server), where promoted images live."""
        ...

    def digest(self, ref: ImageRef) -> str | None:
        """The manifest digest of ``ref`` (by tag), or None when it does not exist."""
        ...

    def promote(self, source: ImageRef, target_repository: str, tag: str) -> ImageRef:
        """Copy ``source`` (by digest) into the prod registry under ``tag``; returns the prod reference."""
        ...

    def manifest(self, reference: str) -> ImageManifest:
        """The manifest (or image index) of ``host/repository[:tag][@digest]`` in the dev or prod registry
        (``factory.packaging.layers`` reads an image's layers through it). Raises ``LookupError`` when absent."""
        ...

    def artifacts(self, host: str) -> ArtifactStore:
        """The manifests and blobs of the registry at ``host`` (the dev or prod registry): where the supply
        chain reads and writes an image's signatures and attestations."""
        ...


@runtime_checkable
class ArtifactStore(Protocol):
    """One registry's manifests and blobs by digest or tag: what the supply chain stores beside an image
    (cosign-layout ``.sig``/``.att`` manifests and their blobs). Every read is bounded and checked against its
    digest; failures raise ``factory.supplychain.oci.OciError`` (``TooLarge`` over a limit)."""

    @property
    def host(self) -> str:
        """The registry's host (login server), as image references name it."""
        ...

    def manifest(self, repository: str, reference: str, max_bytes: int = ...) -> Manifest | None:
        """The manifest ``repository:reference`` (tag or digest) as stored, or None when there is none."""
        ...

    def blob(self, repository: str, digest: str, max_bytes: int = ...) -> bytes:
        """The blob ``digest``; refused over ``max_bytes`` or when its bytes have another digest."""
        ...

    def put_blob(self, repository: str, data: bytes) -> str:
        """Store ``data`` as a blob; returns its digest."""
        ...

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str = ...) -> str:
        """Store a manifest under ``reference`` (a tag); returns its digest."""
        ...


class SigningKeyError(RuntimeError):
    """The factory's signing key is missing, unreadable or not usable; the message names it and the fix."""


@runtime_checkable
class Signer(Protocol):
    """The factory's image and attestation signing key (ECDSA P-256, SHA-256: cosign's key type)."""

    def public_key_pem(self) -> bytes:
        """The public key (PEM SubjectPublicKeyInfo): what verifiers and device policies trust."""
        ...

    def sign(self, payload: bytes) -> bytes:
        """The ASN.1 DER ECDSA signature over SHA-256 of ``payload``; ``SigningKeyError`` without a usable key."""
        ...


@runtime_checkable
class EdgeDeployer(Protocol):
    @classmethod
    def for_device(cls, settings: Settings, device: Device | None) -> Self:
        """The deployer of one pool device (``factory.edge.pool``; None: the default device)."""
        ...

    def current_content(self) -> dict[str, Any]:
        """The smoke-test device's current modules content (to restore later)."""
        ...

    def apply(self, content: dict[str, Any]) -> None:
        """Apply a deployment manifest's modules content to the smoke-test device."""
        ...

    def reported(self, module: str) -> dict[str, Any]:
        """The module twin's reported properties."""
        ...

    def restore(self, content: dict[str, Any]) -> None:
        """Put back what ``current_content`` returned (``{}``: the device had no custom modules)."""
        ...

    def lease(self, holder: str, ttl_seconds: float) -> EdgeLease:
        """Take (or renew) the exclusive lease on the device (``factory.edge.pool.fair_lease``'s rule). One smoke
        test at a time: parallel runs wait for it, in the order they asked."""
        ...

    def release(self, holder: str) -> None:
        """Give the lease back if ``holder`` has it (no-op otherwise)."""
        ...

    def smoke_image(self) -> str:
        """The smoke-test module's image as this device pulls it (locally: built from ``edge/smoke_module``; on
        Azure: setting ``FACTORY_EDGE_SMOKE_IMAGE``, the ACR image by digest)."""
        ...


@runtime_checkable
class BlobStore(Protocol):
    """The configured storage account, and only it (URLs of any other host or account are refused)."""

    @property
    def account_url(self) -> str:
        """The account's blob endpoint."""
        ...

    def url_of(self, container: str, name: str) -> str:
        """The URL of ``container/name`` in the account."""
        ...

    def download(self, uri: str, dest: Path, etag: str | None = None) -> Path:
        """Download a blob to ``dest`` (a file path); with ``etag``, only that version."""
        ...

    def properties(self, uri: str) -> BlobProperties:
        """A blob's etag, size and version id."""
        ...

    def upload(self, container: str, name: str, source: Path, content_type: str = "text/csv") -> str:
        """Upload a file; returns the blob URL."""
        ...

    def latest(self, container: str, prefix: str) -> str | None:
        """The URL of the newest blob whose name starts with ``prefix``, or None."""
        ...


@runtime_checkable
class Notifier(Protocol):
    def approval_requested(self, run_id: str, model: str, version: str, links: dict[str, str],
                           message: dict[str, Any] | None = None) -> None:
        """Tell an approver a run waits for them (webhook on Azure; log + dashboard locally). ``message`` is the
        model card's summary (``factory.notice.approval_message``: an Adaptive Card plus plain fields)."""
        ...
