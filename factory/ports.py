"""What the factory needs from the outside world, nothing about who provides it.

One small ``Protocol`` per capability, in the spirit of ZenML's stack components. Adapters live in
``factory/adapters/azure`` and ``factory/adapters/local``; ``factory/backends.py`` is the one place that
chooses them from settings. Every value crossing a port is a plain dataclass that round-trips through
``to_dict``/``from_dict`` so it can travel through Durable Functions activity inputs and outputs.
"""

from __future__ import annotations

import functools
import typing
from dataclasses import asdict, dataclass, field, fields
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, Protocol, Self, cast, runtime_checkable


class Record:
    """Mixin: JSON-friendly (de)serialisation for dataclasses that cross a process boundary (activity inputs
    and outputs, event data). ``from_dict`` ignores unknown keys, leaves missing ones at their defaults, and
    rebuilds nested records and ``StrEnum`` members from their plain JSON forms."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        hints = _field_types(cls)
        return cls(**{k: _coerce(hints[k], v) for k, v in data.items() if k in hints})


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return {k: v for k, v in typing.get_type_hints(cls).items() if k in names}


def _coerce(hint: Any, value: Any) -> Any:
    """``value`` as field type ``hint`` when that is a record or an enum (or either, optional)."""
    for option in typing.get_args(hint) or (hint,):
        if isinstance(option, type) and value is not None:
            if issubclass(option, Enum) and not isinstance(value, option):
                return option(value)
            if issubclass(option, Record) and isinstance(value, dict):
                return option.from_dict(cast(dict[str, Any], value))
    return value


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
class TrainingJob(Record):
    """A submitted training pipeline job (AML pipeline job or local pipeline run)."""

    job_name: str
    status: str  # NotStarted | Running | Completed | Failed | Canceled
    model: str = ""
    run_id: str = ""
    error: str = ""


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
    tolerance: float = 1e-6
    port: int = 5001
    path: str = "/score"


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


class EdgeStatus(StrEnum):
    """An edge smoke test's verdict: the smoke module's pass or fail, or no report in time."""

    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "fail"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class SmokeVerdict(Record):
    """What the edge smoke-test module reported for one run."""

    run_id: str
    status: EdgeStatus
    cases: int = 0
    failures: list[str] = field(default_factory=list[str])
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    reason: str = ""
    bytes_pulled: int = 0  # what the device downloaded for the model image (its layers it did not have)
    devices: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])  # per device: arch, status, ...


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

    def job_link(self, job_name: str) -> dict[str, str]:
        """Where a person sees the job: ``{"label", "url"}`` (Azure ML studio; locally the MLflow run, ``url``
        empty unless an MLflow UI is configured). Reads no remote service."""
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

    def lease(self, holder: str, ttl_seconds: float) -> dict[str, Any]:
        """Take (or renew) the exclusive lease on the device: ``{"acquired": bool, "holder": str, "expires_at": str}``.
        One smoke test at a time: parallel runs wait for it."""
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

    def properties(self, uri: str) -> dict[str, Any]:
        """``{"etag": ..., "size": ..., "version_id": ...}`` of a blob."""
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
