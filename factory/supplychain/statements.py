"""The in-toto statements the factory signs about an image digest: SLSA provenance, the verification result,
the SBOM of its Python packages (SPDX, from the dependency lock) and the approval. Pure: facts in, dicts out.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract import ApprovalPredicate, EdgeSmokePredicate, RolledBackPredicate, SmokeVerdict
from factory.supplychain.cosign import STATEMENT_TYPE

PROVENANCE = "https://slsa.dev/provenance/v1"
VERIFICATION = "https://in-toto.io/attestation/test-result/v0.1"
SBOM = "https://spdx.dev/Document"
APPROVAL = "https://model-factory.dev/attestations/approval/v1"
EDGE_SMOKE = "https://model-factory.dev/attestations/edge-smoke/v1"
ROLLED_BACK = "https://model-factory.dev/attestations/rolled-back/v1"
BUILD_TYPE = "https://model-factory.dev/build/image/v1"
BUILDER_ID = "https://model-factory.dev/builder/local-podman"
LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)((?:\s+--hash=sha256:[0-9a-f]{64})*)")


def statement(subject_name: str, digest: str, predicate_type: str, predicate: dict[str, Any]) -> dict[str, Any]:
    """An in-toto v1 statement about ``subject_name@digest``."""
    return {"_type": STATEMENT_TYPE, "predicateType": predicate_type, "predicate": predicate,
            "subject": [{"name": subject_name, "digest": {"sha256": digest.removeprefix("sha256:")}}]}


@dataclass(frozen=True)
class BuildFacts:
    """What the factory knows about how an image was made."""

    model: str
    version: str
    run_id: str
    repository: str
    source_commit: str = ""
    model_folder_sha256: str = ""
    kit_sha256: str = ""
    context_sha256: str = ""
    data_uri: str = ""
    data_sha256: str = ""
    training_job: str = ""
    lock_sha256: str = ""
    base_image: str = ""
    arches: list[str] = field(default_factory=list[str])
    started_on: str = ""
    finished_on: str = ""


def provenance(facts: BuildFacts) -> dict[str, Any]:
    """A SLSA v1 provenance predicate: the run's parameters, and every input by its digest."""
    deps: list[dict[str, Any]] = []
    if facts.source_commit:
        deps.append({"uri": "git+source", "name": "source", "digest": {"gitCommit": facts.source_commit}})
    for name, sha in (("model-folder", facts.model_folder_sha256), ("modelkit", facts.kit_sha256),
                      ("dependency-lock", facts.lock_sha256)):
        if sha:
            deps.append({"name": name, "digest": {"sha256": sha}})
    if facts.data_sha256:
        deps.append({"uri": facts.data_uri, "name": "training-data", "digest": {"sha256": facts.data_sha256}})
    if facts.base_image:
        deps.append({"uri": facts.base_image, "name": "base-image"})
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {"model": facts.model, "version": facts.version, "run_id": facts.run_id,
                                   "repository": facts.repository},
            "internalParameters": {"arches": facts.arches, "context_sha256": facts.context_sha256},
            "resolvedDependencies": deps,
        },
        "runDetails": {
            "builder": {"id": BUILDER_ID},
            "metadata": {"invocationId": facts.run_id, "startedOn": facts.started_on,
                         "finishedOn": facts.finished_on},
            "byproducts": [{"name": "training-job", "uri": facts.training_job}] if facts.training_job else [],
        },
    }


def verification(arches: list[str], request: Any, expected: Any, tolerance: float, report: str) -> dict[str, Any]:
    """An in-toto test-result predicate: the scoring check every architecture passed before the push."""
    return {"result": "PASSED", "configuration": [{"name": "scoring-check", "request": request,
                                                   "expected": expected, "tolerance": tolerance}],
            "passedTests": [f"scoring-check/{arch}" for arch in arches], "failedTests": [], "warnedTests": [],
            "report": report[-2000:]}


def sbom(lock: Path, name: str) -> dict[str, Any]:
    """An SPDX 2.3 document of the image's Python packages, read from its dependency lock."""
    text = lock.read_text(encoding="utf-8")
    packages: list[dict[str, Any]] = []
    for line in text.splitlines():
        match = LOCK_LINE.match(line.strip())
        if not match:
            continue
        pkg, version, hashes = match.groups()
        entry: dict[str, Any] = {"SPDXID": f"SPDXRef-Package-{re.sub(r'[^A-Za-z0-9.-]', '-', pkg)}", "name": pkg,
                                 "versionInfo": version, "downloadLocation": "NOASSERTION",
                                 "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                                                   "referenceLocator": f"pkg:pypi/{pkg.lower()}@{version}"}]}
        sums = re.findall(r"sha256:([0-9a-f]{64})", hashes)
        if sums:
            entry["checksums"] = [{"algorithm": "SHA256", "checksumValue": s} for s in sums]
        packages.append(entry)
    return {"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": name,
            "documentNamespace": f"https://model-factory.dev/spdx/{hashlib.sha256(text.encode()).hexdigest()}",
            "creationInfo": {"creators": ["Tool: model-factory"], "created": "1970-01-01T00:00:00Z"},
            "packages": packages}


def approval(run_id: str, model: str, version: str, digest: str, approver: str, decided_at: str,
             decision: str, request_id: str = "") -> dict[str, Any]:
    """The approval predicate (``contract.ApprovalPredicate``): who approved exactly which digest of which run and
    version, and when."""
    return ApprovalPredicate(run_id=run_id, model=model, version=version, digest=digest, approver=approver,
                             decided_at=decided_at, decision=decision, request_id=request_id).to_dict()


def edge_smoke(run_id: str, model: str, version: str, verdict: SmokeVerdict) -> dict[str, Any]:
    """The edge smoke predicate (``contract.EdgeSmokePredicate``): the run's verdict and, per device, its
    architecture, status and latencies."""
    return EdgeSmokePredicate.of(run_id, model, version, verdict).to_dict()


def rolled_back(run_id: str, model: str, version: str, previous_version: str, reason: str,
                rolled_back_at: str) -> dict[str, Any]:
    """The rolled-back predicate (``contract.RolledBackPredicate``): the fleet rollout of ``run_id`` took this
    version back off the fleet, why, when, and the version production went back to (``""``: none before it)."""
    return RolledBackPredicate(run_id=run_id, model=model, version=version, previous_version=previous_version,
                               reason=reason[:1000], rolled_back_at=rolled_back_at).to_dict()
