# pyright: strict
"""A device's pull policy, in containers/image's ``policy.json`` format, enforced by the factory's own verifier
(Debian's podman and skopeo are built with sigstore checks disabled, so the device cannot leave it to them).

The format (``man containers-policy.json``): ``{"default": [...], "transports": {"docker": {scope: [...]}}}``;
a scope is ``host[:port]``, ``host/namespace...``, ``host/repo`` or ``host/repo:tag|@digest``, the most
specific one naming the image applies, else ``default``. Every requirement of the list must hold:
``insecureAcceptAnything``, ``reject``, or ``sigstoreSigned`` with ``keyPath`` (or ``keyData``, base64 PEM)
and ``signedIdentity`` (``matchRepository``, ``matchRepoDigestOrExact`` (default), ``matchExact``,
``exactRepository`` + ``dockerRepository``, ``exactReference`` + ``dockerReference``). Anything else in a
policy is refused when it is loaded, never ignored.

``check_pull`` is what a device does before it pulls: resolve the reference to the manifest digest, read the
cosign ``.sig`` for that digest, verify each simple-signing payload (docker-reference and manifest digest)
against the policy's key, and answer the ``registry/repository@digest`` to pull; ``PullRefused`` says why not.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from factory.ports import ArtifactStore
from factory.supplychain.chain import parse_reference
from factory.supplychain.cosign import ChainBroken, key_id, load_public_key, signed_identities
from factory.supplychain.oci import OciError

MAX_POLICY_BYTES = 64 * 1024
ACCEPT, REJECT, SIGSTORE = "insecureAcceptAnything", "reject", "sigstoreSigned"
IDENTITIES = ("matchRepository", "matchRepoDigestOrExact", "matchExact", "exactRepository", "exactReference")


class PolicyError(ValueError):
    """The policy file is missing, malformed or uses what this verifier does not enforce."""


class PullRefused(RuntimeError):
    """The policy refuses the image; the message says why (the device reports it)."""


@dataclass(frozen=True)
class Requirement:
    """One requirement of a scope: ``kind``; for ``sigstoreSigned`` the key and the signed-identity rule."""

    kind: str
    public_pem: bytes = b""
    identity: str = "matchRepoDigestOrExact"
    identity_value: str = ""  # dockerRepository / dockerReference of the exact* rules


@dataclass(frozen=True)
class PullPolicy:
    """The parsed policy: the default requirements and the ``docker`` transport's scopes."""

    default: tuple[Requirement, ...]
    scopes: dict[str, tuple[Requirement, ...]] = field(default_factory=dict[str, tuple[Requirement, ...]])

    @classmethod
    def load(cls, path: Path) -> PullPolicy:
        """Read and parse ``path``; relative ``keyPath``s are relative to its folder."""
        try:
            with path.open("rb") as f:
                data = f.read(MAX_POLICY_BYTES + 1)
        except OSError as exc:
            raise PolicyError(f"policy {path}: {exc.strerror}") from None
        if len(data) > MAX_POLICY_BYTES:
            raise PolicyError(f"policy {path}: over {MAX_POLICY_BYTES} bytes")
        return cls.parse(data, path.parent)

    @classmethod
    def parse(cls, data: bytes, base: Path) -> PullPolicy:
        try:
            raw = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise PolicyError("policy: not JSON") from None
        body = _obj(raw, "policy")
        unknown = set(body) - {"default", "transports"}
        if unknown:
            raise PolicyError(f"policy: unsupported keys {sorted(unknown)}")
        transports = _obj(body.get("transports", {}), "policy transports")
        others = sorted(set(transports) - {"docker"})
        if others:
            raise PolicyError(f"policy: only the docker transport is enforced, not {others}")
        scopes = _obj(transports.get("docker", {}), "policy transports.docker")
        return cls(_requirements(body.get("default"), "default", base),
                   {str(scope): _requirements(reqs, f"scope {scope}", base) for scope, reqs in scopes.items()})

    def requirements(self, host: str, repository: str, tag: str = "", digest: str = "") -> tuple[Requirement, ...]:
        """The requirements of the most specific scope naming the image (containers/image's order)."""
        name = f"{host}/{repository}"
        candidates = [name + "@" + digest] if digest else []
        candidates += [name + ":" + tag] if tag else []
        parts = name.split("/")
        candidates += ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]
        for scope in candidates:
            if scope in self.scopes:
                return self.scopes[scope]
        return self.default


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PolicyError(f"{what}: expected a JSON object")
    return cast(dict[str, Any], value)


def _requirements(value: Any, what: str, base: Path) -> tuple[Requirement, ...]:
    if not isinstance(value, list) or not value:
        raise PolicyError(f"policy {what}: expected a non-empty list of requirements")
    return tuple(_requirement(_obj(item, f"policy {what}"), what, base) for item in cast(list[Any], value))


def _requirement(item: dict[str, Any], what: str, base: Path) -> Requirement:
    kind = item.get("type")
    if kind in (ACCEPT, REJECT):
        if set(item) != {"type"}:
            raise PolicyError(f"policy {what}: {kind} takes no options")
        return Requirement(str(kind))
    if kind != SIGSTORE:
        raise PolicyError(f"policy {what}: requirement type {kind!r} is not enforced here "
                          f"(use {ACCEPT}, {REJECT} or {SIGSTORE})")
    unknown = set(item) - {"type", "keyPath", "keyData", "signedIdentity"}
    if unknown:
        raise PolicyError(f"policy {what}: sigstoreSigned options {sorted(unknown)} are not enforced here")
    if ("keyPath" in item) == ("keyData" in item):
        raise PolicyError(f"policy {what}: sigstoreSigned needs exactly one of keyPath and keyData")
    if "keyPath" in item:
        path = base / str(item["keyPath"])
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise PolicyError(f"policy {what}: key {path}: {exc.strerror}") from None
    else:
        try:
            pem = base64.b64decode(str(item["keyData"]), validate=True)
        except (binascii.Error, ValueError):
            raise PolicyError(f"policy {what}: keyData is not base64") from None
    try:
        load_public_key(pem)
    except ChainBroken as exc:
        raise PolicyError(f"policy {what}: {exc}") from None
    rule = _obj(item.get("signedIdentity", {"type": "matchRepoDigestOrExact"}), f"policy {what} signedIdentity")
    identity = rule.get("type")
    if identity not in IDENTITIES:
        raise PolicyError(f"policy {what}: signedIdentity {identity!r} is not enforced here")
    value_key = {"exactRepository": "dockerRepository", "exactReference": "dockerReference"}.get(str(identity), "")
    value = rule.get(value_key, "") if value_key else ""
    if set(rule) - {"type", value_key} or (value_key and not isinstance(value, str)) or (value_key and not value):
        raise PolicyError(f"policy {what}: signedIdentity {identity} needs exactly {value_key or 'no options'}")
    return Requirement(SIGSTORE, pem, str(identity), str(value))


def _repository(reference: str) -> str:
    """``registry/repository`` of a reference (tag or digest dropped)."""
    name = reference.partition("@")[0]
    head, colon, tail = name.rpartition(":")
    return head if colon and "/" not in tail else name


def identity_matches(requirement: Requirement, signed: str, image: str) -> bool:
    """Whether a signature's docker-reference ``signed`` satisfies the rule for the pulled ``image``."""
    rule = requirement.identity
    if rule == "matchRepository":
        return _repository(signed) == _repository(image)
    if rule == "exactRepository":
        return _repository(signed) == requirement.identity_value
    if rule == "exactReference":
        return signed == requirement.identity_value
    if rule == "matchRepoDigestOrExact" and "@" in image:
        return _repository(signed) == _repository(image)
    return signed == image  # matchExact, or matchRepoDigestOrExact of a tagged reference


def write_policy(path: Path, key_path: Path, signed_scopes: list[str]) -> None:
    """The device policy the local stack gives its simulators: images under ``signed_scopes`` (the prod
    registry) must carry a signature by the key at ``key_path`` for their repository; others are accepted
    (the test devices' smoke module and images from local storage). Written 0644 (it holds no secret)."""
    requirement = {"type": SIGSTORE, "keyPath": str(key_path.resolve()), "signedIdentity": {"type": "matchRepository"}}
    policy = {"default": [{"type": ACCEPT}], "transports": {"docker": {s: [requirement] for s in signed_scopes}}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(policy, indent=1))
    tmp.chmod(0o644)
    tmp.replace(path)


def require_signature(image: str, public: bytes, artifacts: Callable[[str], ArtifactStore]) -> str:
    """``check_pull`` under a policy that requires the key's signature for the image's own repository, whatever
    the registry: what the edge smoke stage and the rollout check before they target any device."""
    return check_pull(PullPolicy((Requirement(SIGSTORE, public, "matchRepository"),)), image, artifacts)


def signature_check(public: bytes, artifacts: Callable[[str], ArtifactStore]) -> Callable[[str], str]:
    """``require_signature`` as a check that answers "" or why not: the edge smoke stage's ``edge_devices``
    and the rollout's ``RolloutService(image_check=...)``."""

    def check(image: str) -> str:
        try:
            require_signature(image, public, artifacts)
        except PullRefused as exc:
            return str(exc)
        return ""

    return check


def check_pull(policy: PullPolicy, image: str, artifacts: Callable[[str], ArtifactStore]) -> str:
    """The reference to pull for ``image`` under ``policy``: the image unchanged when its scope accepts
    anything, else ``registry/repository@digest`` of the manifest whose signature the policy's key made for an
    identity it accepts. ``PullRefused`` names why not (unsigned, foreign key, another name, a tag that moved,
    a corrupt or oversized signature); nothing read from the registry makes it raise anything else."""
    try:
        host, repository, tag, digest = parse_reference(image)
    except ValueError as exc:
        if "/" not in image:  # a bare local name: only the default requirements can apply
            host, repository, tag, digest = "", image, "", ""
        else:
            raise PullRefused(str(exc)) from None
    requirements = policy.requirements(host, repository, tag, digest) if host else policy.default
    if any(r.kind == REJECT for r in requirements):
        raise PullRefused(f"{image}: the device's policy rejects images from this scope")
    signed = [r for r in requirements if r.kind == SIGSTORE]
    if not signed:
        return image
    if not host:
        raise PullRefused(f"{image}: the policy requires a signature and the image names no registry")
    try:
        store = artifacts(host)
        manifest = store.manifest(repository, digest or tag)
        if manifest is not None and tag and digest:
            tagged = store.manifest(repository, tag)
            if tagged is None or tagged.digest != digest:
                raise PullRefused(f"{image}: the tag is {tagged.digest if tagged else 'missing'}, not {digest}")
    except (OciError, ValueError) as exc:
        raise PullRefused(f"{image}: cannot read its manifest: {exc}") from None
    if manifest is None:
        raise PullRefused(f"{image}: no such image")
    pinned = f"{host}/{repository}@{manifest.digest}"
    for requirement in signed:
        try:
            identities = signed_identities(store, repository, manifest.digest, requirement.public_pem)
        except (ChainBroken, OciError) as exc:
            raise PullRefused(f"{pinned}: unreadable signature: {exc}") from None
        if not any(identity_matches(requirement, ident, image) for ident in identities):
            theirs = f" (it is signed by that key for {', '.join(identities)})" if identities else ""
            raise PullRefused(f"{pinned}: not signed by key {key_id(requirement.public_pem)} for "
                              f"{host}/{repository}{theirs}")
    return pinned
