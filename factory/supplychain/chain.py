"""The chain of an image, link by link: its signature by the factory's key, its provenance, its verification,
its SBOM and its approval, each a signed attestation about exactly that digest. ``verify`` reads it for
``model-factory verify``; ``promotable`` is what promotion requires before it copies anything.

Every problem (missing, foreign key, another digest, corrupt or oversized blob) becomes a broken link with a
reason; nothing read from a registry can make these functions raise anything but ``ChainBroken``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from contract import ApprovalPredicate, DeviceVerdict, EdgeSmokePredicate, RolledBackPredicate
from contract.attestations import text
from contract.record import Record
from factory.fields import as_dict, as_dicts, as_list
from factory.ports import ArtifactStore
from factory.supplychain import statements
from factory.supplychain.cosign import ChainBroken, attestations, key_id, signed_identities
from factory.supplychain.oci import OciError

R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class Link:
    """One link of the chain: its name, whether it holds, and what it says (or why it is broken)."""

    name: str
    ok: bool
    detail: str


@dataclass
class ChainReport:
    """The links of one image's chain, in order."""

    image: str
    digest: str = ""
    links: list[Link] = field(default_factory=list[Link])
    statements: dict[str, dict[str, Any]] = field(default_factory=dict[str, dict[str, Any]])

    @property
    def broken(self) -> list[Link]:
        return [link for link in self.links if not link.ok]

    @property
    def ok(self) -> bool:
        return bool(self.links) and not self.broken

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.links.append(Link(name, ok, detail))

    def predicate(self, predicate_type: str) -> dict[str, Any]:
        return as_dict(self.statements.get(predicate_type, {}).get("predicate"))

    def typed(self, predicate_type: str, record: type[R]) -> R | None:
        """The predicate of ``predicate_type`` as ``record``: None when there is none or it has another shape."""
        found = self.predicate(predicate_type)
        return record.maybe(found) if found else None


def parse_reference(ref: str) -> tuple[str, str, str, str]:
    """``(registry, repository, tag, digest)`` of ``registry/repository[:tag][@digest]``."""
    name, _, digest = ref.partition("@")
    registry, slash, rest = name.partition("/")
    if not slash or not rest or not registry:
        raise ValueError(f"image reference {ref!r}: expected registry/repository[:tag][@sha256:...]")
    repository, colon, tag = rest.rpartition(":")
    if not colon or "/" in tag:
        repository, tag = rest, ""
    if not tag and not digest:
        raise ValueError(f"image reference {ref!r}: give a tag or a digest")
    if digest and not digest.startswith("sha256:"):
        raise ValueError(f"image reference {ref!r}: the digest must be sha256:<hex>")
    return registry, repository, tag, digest


def _signature_link(report: ChainReport, registry: ArtifactStore, repository: str, digest: str,
                    public_pem: bytes) -> None:
    identity = f"{registry.host}/{repository}"
    try:
        identities = signed_identities(registry, repository, digest, public_pem)
    except (ChainBroken, OciError) as exc:
        report.add("signature", False, f"signature of {digest}: {exc}")
        return
    if identity in identities:
        report.add("signature", True, f"signed as {identity} by key {key_id(public_pem)}")
    elif identities:
        report.add("signature", False, f"signed by the factory's key for {', '.join(identities)}, not {identity}")
    else:
        report.add("signature", False, f"no signature of {digest} by the factory's key ({key_id(public_pem)})")


def _attestation_links(report: ChainReport, registry: ArtifactStore, repository: str, digest: str,
                       public_pem: bytes) -> None:
    try:
        found, problems = attestations(registry, repository, digest, public_pem)
    except (ChainBroken, OciError) as exc:
        found, problems = {}, [str(exc)]
    report.statements = found
    why = f" ({'; '.join(problems)})" if problems else ""
    prov = report.predicate(statements.PROVENANCE)
    if prov:
        resolved = as_dict(prov.get("buildDefinition")).get("resolvedDependencies")
        deps = {str(d.get("name")): d for d in as_dicts(resolved)}
        commit = as_dict(deps.get("source", {}).get("digest")).get("gitCommit", "?")
        data = as_dict(deps.get("training-data", {}).get("digest")).get("sha256", "?")
        jobs = [b.get("uri") for b in as_dicts(as_dict(prov.get("runDetails")).get("byproducts"))
                if b.get("name") == "training-job"]
        report.add("provenance", True, f"commit {commit}, data sha256 {data}, training job {jobs[0] if jobs else '?'}")
    else:
        report.add("provenance", False, f"no signed provenance attestation{why}")
    test = report.predicate(statements.VERIFICATION)
    passed = [str(t).split("/")[-1] for t in as_list(test.get("passedTests")) if isinstance(t, str)]
    if test.get("result") == "PASSED":
        report.add("verification", True, f"passed on {', '.join(passed)}")
    else:
        report.add("verification", False, f"no signed passing verification attestation{why}")
    spdx = report.predicate(statements.SBOM)
    if spdx:
        size = len(json.dumps(spdx).encode())
        report.add("sbom", True, f"{len(as_dicts(spdx.get('packages')))} Python packages ({size} bytes)")
    else:
        report.add("sbom", False, f"no signed SBOM attestation{why}")
    edge = report.typed(statements.EDGE_SMOKE, EdgeSmokePredicate)
    rows = [d for d in cast(list[object], edge.devices) if isinstance(d, DeviceVerdict)] if edge else []
    devices = ", ".join(f"{d.arch or d.device or '?'} {d.status}" for d in rows)  # entries of another shape: not shown
    if edge is not None and edge.passed:
        report.add("edge", True, f"smoke test passed{f' ({devices})' if devices else ''}, p95 {edge.p95_ms} ms")
    else:
        report.add("edge", False, f"no signed passing edge smoke attestation{why}" if edge is None
                   else f"edge smoke test {text(edge.status)}: {text(edge.reason)}")
    approval = report.typed(statements.APPROVAL, ApprovalPredicate)
    if approval is not None and approval.approves(digest):
        report.add("approval", True, f"approved by {text(approval.approver)} at {text(approval.decided_at)} "
                                     f"(run {text(approval.run_id)}, version {text(approval.version)})")
    elif approval is not None:
        report.add("approval", False, f"the approval attestation is for {text(approval.digest)} "
                                      f"({text(approval.decision)}), not {digest}")
    else:
        report.add("approval", False, f"no signed approval attestation{why}")


def verify(ref: str, public_pem: bytes, artifacts: Callable[[str], ArtifactStore]) -> ChainReport:
    """The chain of ``ref`` (``registry/repository:tag`` or ``@digest``): every link, broken ones with why.
    ``artifacts`` gives the registry at a host (``ImageRegistry.artifacts``)."""
    report = ChainReport(ref)
    try:
        host, repository, tag, want = parse_reference(ref)
    except ValueError as exc:
        report.add("image", False, str(exc))
        return report
    try:
        registry = artifacts(host)
    except ValueError as exc:
        report.add("image", False, str(exc))
        return report
    try:
        manifest = registry.manifest(repository, want or tag)
        if tag and want and manifest is not None:
            tagged = registry.manifest(repository, tag)
            if tagged is None or tagged.digest != want:
                report.add("image", False, f"{host}/{repository}:{tag} is {tagged.digest if tagged else 'missing'}, "
                                           f"not {want}")
                return report
    except OciError as exc:
        report.add("image", False, str(exc))
        return report
    if manifest is None:
        report.add("image", False, f"{ref}: no such image")
        return report
    report.digest = manifest.digest
    report.add("image", True, f"{host}/{repository}@{manifest.digest}")
    _signature_link(report, registry, repository, manifest.digest, public_pem)
    _attestation_links(report, registry, repository, manifest.digest, public_pem)
    return report


def promotable(registry: ArtifactStore, repository: str, digest: str, public_pem: bytes, version: str) -> ChainReport:
    """The checks promotion makes before it copies: the dev image's signature, a passing edge smoke
    attestation and an approval attestation bound to exactly ``digest`` (and ``version``). ``ok`` False names
    the missing link."""
    report = ChainReport(f"{registry.host}/{repository}@{digest}", digest)
    _signature_link(report, registry, repository, digest, public_pem)
    _attestation_links(report, registry, repository, digest, public_pem)
    approval = report.typed(statements.APPROVAL, ApprovalPredicate)
    if approval is not None and str(approval.version) != str(version):
        report.add("approval", False, f"the approval is for version {text(approval.version)}, not {version}")
    report.links = [link for link in report.links if link.name in ("signature", "edge", "approval")]
    return report


def render(report: ChainReport) -> str:
    """The chain as lines for a person: one per link, ``ok`` or ``BROKEN``."""
    shown = f"  ({report.digest})" if report.digest and report.digest not in report.image else ""
    lines = [report.image + shown]
    lines += [f"  {'ok    ' if link.ok else 'BROKEN'}  {link.name:<13} {link.detail}" for link in report.links]
    back = report.typed(statements.ROLLED_BACK, RolledBackPredicate)
    if back is not None:  # a mark, not a link: the chain is intact, but the fleet rollout took this version back
        previous = back.previous_version or "(none)"
        lines.append(f"  MARKED  rolled back   by run {text(back.run_id)} at {text(back.rolled_back_at)}: "
                     f"{text(back.reason)}; production went back to version {previous}")
    if report.broken:
        lines.append(f"broken link: {report.broken[0].name}: {report.broken[0].detail}")
    return "\n".join(lines)
