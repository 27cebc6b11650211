"""What each activity of a run does: ``RunSteps``, one method per activity, built from the services (the
ports of one backend, as ``EdgeSmokeService`` is from its deployer). Each method is one call into a port plus
the pure domain around it, and idempotent: activities are delivered at least once.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contract import (
    ApprovalAttestation,
    ApprovalNotice,
    ApprovalRequest,
    ApprovalState,
    ArtifactFormat,
    Attested,
    BuildRequest,
    Champion,
    DataCheck,
    DataFacts,
    DecisionCheck,
    DecisionToVerify,
    EdgeAttestation,
    GateRequest,
    GateVerdict,
    ImageBuild,
    Lineage,
    Precision,
    Promotion,
    PromotionRequest,
    Reconciled,
    ReconcileRequest,
    RunPlan,
    RunRequest,
    RunSummary,
    Stage,
    TrainingJob,
)
from factory import gate
from factory.approval import approval_links, links_base_url, signing_keys
from factory.backends import Services, services
from factory.catalog import load_catalog
from factory.kit import dependency_drift
from factory.model_spec import ModelSpec
from factory.pinning import sha256_of
from factory.ports import BuildContext, BuiltImage, ImageRef, TrainingRequest, VerificationFailed
from factory.reconciling import find_image, find_model_version
from factory.rollout.spec import summary as rollout_summary
from factory.settings import Settings

if TYPE_CHECKING:
    from factory.packaging.layers import ImageFacts
    from factory.pinning import FetchedData
    from factory.supplychain.statements import BuildFacts

log = logging.getLogger(__name__)


def run_steps() -> RunSteps:
    """The steps on the process-wide services (``factory.backends.services()``)."""
    return RunSteps(services())


@dataclass
class RunSteps:
    """Plan, validate, train, gate, build, ask for approval, verify the decision, promote: one method each."""

    services: Services  # the ports of one backend, each adapter built on first use

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def catalog(self) -> dict[str, ModelSpec]:
        """The model catalog, read anew each call (adding a model folder needs no restart)."""
        return load_catalog(self.settings.models_dir)

    def _run_dir(self, run_id: str) -> Path:
        return self.settings.state_dir / "runs" / run_id

    def plan_run(self, run: RunRequest) -> RunPlan:
        """Resolve the run's timeouts and names from ``model.yaml`` and settings."""
        spec, settings = self.catalog()[run.model], self.settings
        return RunPlan(
            training_timeout_s=spec.training.timeout_seconds,
            build_timeout_s=settings.build_timeout_s,
            edge_poll_s=spec.edge.poll_seconds,
            edge_timeout_s=spec.edge.timeout_seconds,
            edge_max_p95_ms=spec.edge.max_p95_ms,
            approval_timeout_s=(round(spec.approval.timeout_hours * 3600) if spec.approval.timeout_hours else
                                settings.approval_timeout_s),
            image_repository=spec.image.repository,
            key_metric=spec.key_metric,
            activity_attempts=settings.activity_attempts,
            activity_retry_ms=int(settings.activity_retry_s * 1000),
            approvers=list(spec.approval.approvers),
            reconcile_after_s=settings.reconcile_after_s,
            rollout=spec.rollout is not None,
            rollout_summary=rollout_summary(spec.rollout) if spec.rollout else "",
        )

    def _check_upload(self, local: Path, spec: ModelSpec, name: str, run_id: str
                      ) -> tuple[list[str], dict[str, int]]:
        """The problems of a fetched upload for its model's ``data.kind`` (empty = valid), and for an image
        archive its images (or boxes) per label."""
        if spec.data.kind == "table":
            from factory.validation import validate_csv

            return [str(e) for e in validate_csv(local, spec, name)], {}
        from factory.image_validation import validate_image_archive

        if not name.lower().endswith((".zip", ".tar.gz")):
            return [f"archive {name}: expected a .zip or .tar.gz upload (model {spec.name} learns from images), "
                    f"got {Path(name).name}"], {}
        workdir = self._run_dir(run_id) / "extract"
        shutil.rmtree(workdir, ignore_errors=True)  # a retried activity starts from a clean folder
        per_label: Counter[str] = Counter()
        errors = [str(e) for e in validate_image_archive(local, spec, name, workdir, per_label=per_label)]
        return errors, dict(per_label)

    def validate_data(self, run: RunRequest) -> DataCheck:
        """Fetch the run's blob (only from the watched place, at the version that started the run), check it
        against the model's ``data`` section (a CSV's columns, an image archive's members; an archive is
        unpacked only inside this run's folder) and pin the validated bytes (``pinned_uri``, ``sha256``)."""
        from factory import pinning

        spec = self.catalog()[run.model]
        store, scratch = self.services.blob_store, self._run_dir(run.run_id) / "data"
        try:
            data = pinning.fetch(store, run.model, run.data_uri, run.data_etag, spec.data.max_bytes, scratch)
            errors, per_label = self._check_upload(data.local, spec, data.display_name, run.run_id)
            pinned = "" if errors else pinning.pin(store, run.run_id, data)
            return DataCheck(ok=not errors, errors=errors, **pinning.summary(data, pinned),
                             facts=data_facts(data, table=spec.data.kind == "table", per_label=per_label))
        except pinning.DataRefused as refused:
            return DataCheck(ok=False, etag=run.data_etag, size=0, errors=[str(refused)])
        finally:
            pinning.discard(scratch)  # the pinned blob is the record; no local copy outlives the step

    def submit_training(self, run: RunRequest) -> TrainingJob:
        """Submit the model's pipeline on the pinned data (the run's ``data_uri`` is the pinned copy by now;
        idempotent per run id)."""
        return self.services.trainer.submit(TrainingRequest(
            model=run.model, run_id=run.run_id, data_uri=run.data_uri, data_etag=run.data_etag,
            data_sha256=run.data_sha256, source_commit=run.source_commit))

    def reconcile_model(self, req: ReconcileRequest) -> Reconciled:
        """The model version this run registered, asked of the model registry (a late ModelRegistered)."""
        return find_model_version(self.services.model_registry, req)

    def reconcile_image(self, req: ReconcileRequest) -> Reconciled:
        """The image this run pushed, asked of the dev registry (a late ImagePushed)."""
        return find_image(self.services.image_registry, req)

    def evaluate_gate(self, req: GateRequest) -> GateVerdict:
        """The registered version against the model's gate and its production version."""
        spec = self.catalog()[req.model]
        registry = self.services.model_registry
        challenger = registry.get(req.model, req.version)
        production = registry.production(req.model)
        champion = None
        if production is not None and production.version != challenger.version:
            champion = Champion(production.version, production.metrics)
        result = gate.evaluate(challenger.metrics, spec.gate, champion)
        drift = dependency_drift(spec.folder)  # training and serving library versions must be the same
        return GateVerdict(passed=result.passed and not drift, reasons=[*result.reasons, *drift],
                           champion=result.champion, metrics=challenger.metrics,
                           precision=kept_precision(challenger.metrics, spec.artifact.format))

    def build_image(self, req: BuildRequest) -> ImageBuild:
        """Assemble the context, build, verify and push to the dev registry under the run id's tag.

        Not ``ok`` (with the reason and the container's logs) when verification failed: nothing is stored.
        Per architecture, from the registries' manifests: ``image_bytes`` (compressed size), ``update_bytes``
        (what a device holding the production version, ``update_from``, downloads for this image) and
        ``layers_shared`` of ``layers_total`` (the layers that device has already).
        """
        from factory.packaging.context import assemble, model_labels, scoring_check
        from factory.supplychain.modelsig import signed_model_digest
        from factory.supplychain.steps import now, require_signer, sign_build

        spec = self.catalog()[req.model]
        signer = self.services.signer
        require_signer(signer)  # a missing or unusable key fails the run here: nothing is built, nothing pushed
        started = now()
        work = self._run_dir(req.run_id) / "image"
        shutil.rmtree(work, ignore_errors=True)  # a retried activity starts from a clean folder
        artifacts = self.services.model_registry.download(req.model, req.version, work / "artifacts")
        labels = model_labels(req.model, req.version, req.run_id, req.source_commit)
        context = assemble(spec.folder, artifacts, work / "context", labels, spec.environment,  # model.yaml's
                           signer=signer)  # the model folder signed (OpenSSF model-signing) into the image
        ref = ImageRef(registry=self.services.image_registry.dev_host(), repository=req.repository, tag=req.run_id)
        check = scoring_check(spec.folder)
        try:
            built = self.services.image_builder.build_verify_push(context, ref, check)
        except VerificationFailed as failed:
            return ImageBuild(ok=False, reason=str(failed), logs=failed.logs[-4000:])
        image = ImageRef(ref.registry, ref.repository, digest=built.digest)
        signature = sign_build(signer, self.services.image_registry, image,
                               build_facts(req, spec.folder, context, built, started, now()), check,
                               built.log_tail, Path(context.path) / "requirements.lock",
                               model_digest=signed_model_digest(Path(context.path)))
        facts, update_from = self._image_facts(req.model, str(image))
        if facts is None:
            return ImageBuild(ok=True, image=str(image), digest=built.digest, update_from=update_from,
                              signature=signature)
        return ImageBuild(ok=True, image=str(image), digest=built.digest, update_from=update_from,
                          image_bytes=facts.size_bytes, update_bytes=facts.update_bytes,
                          layers_shared=facts.layers_shared, layers_total=facts.layers_total, signature=signature)

    def _image_facts(self, model: str, image: str) -> tuple[ImageFacts | None, str]:
        """``(facts, prod reference)``: ``image``'s size, update size and layers shared with the prod version,
        per architecture (read from the registries' manifests; None when they cannot be read here, e.g.
        without skopeo)."""
        from factory.packaging.layers import image_facts, repository_of

        production = self.services.model_registry.production(model)
        prod_registry = self.services.image_registry.prod_host()
        repository = repository_of(image).split("/", 1)[1]
        held = f"{prod_registry}/{repository}:v{production.version}" if production else None
        try:
            return image_facts(image, held, self.services.image_registry.manifest), held or ""
        except (LookupError, OSError, ValueError, subprocess.SubprocessError) as exc:
            log.warning("size and update size of %s not measured: %s", image, exc)
            return None, held or ""

    def request_approval(self, req: ApprovalRequest) -> ApprovalNotice:
        """Sign the approve/reject links for this run, version and digest; notify the approver once.

        The links go to the notifier only: they are not returned, so they never enter the Durable history or
        the run's status (``GET /api/runs/{id}/approval-links``, admin key, makes them again from the
        request)."""
        links = approval_links(links_base_url(self.settings), signing_keys(self.settings)[0], req.run_id,
                               req.version, req.digest, req.expires_at)
        self.services.notifier.approval_requested(req.run_id, req.model, req.version, links,
                                                  approval_notice(req, links))
        return ApprovalNotice(notified=True, expires_at=req.expires_at)

    def verify_approval(self, req: DecisionToVerify) -> DecisionCheck:
        """Check one ``ApprovalDecision`` event against the approval request (see ``factory.decision``)."""
        from factory.decision import check_decision

        check = check_decision(req.request, req.event, signing_keys(self.settings))
        if not check.accepted:
            log.warning("refused an approval decision for run %s: %s", req.request.run_id, check.reason)
        return check

    def attest_edge(self, req: EdgeAttestation) -> Attested:
        """Sign the edge smoke verdict (per device) of exactly this digest into the image's attestations."""
        from factory.supplychain import statements
        from factory.supplychain.steps import attest_statement

        image = _parse_image(req.image)
        if image.digest != req.digest:
            raise ValueError(f"run {req.run_id}: edge verdict of {req.digest} for another image {req.image}")
        envelope = attest_statement(self.services.signer, self.services.image_registry, image, statements.EDGE_SMOKE,
                                    statements.edge_smoke(req.run_id, req.model, req.version, req.verdict))
        return Attested(image=req.image, predicate_type=statements.EDGE_SMOKE, envelope_digest=envelope)

    def attest_approval(self, req: ApprovalAttestation) -> Attested:
        """Sign an accepted approve (``verify_approval`` checked it) into the image's attestations: run, model,
        version, exactly this digest, approver and time. Idempotent (one approval statement per digest)."""
        from factory.supplychain import statements
        from factory.supplychain.steps import attest_approval

        image = _parse_image(req.image)
        if image.digest != req.digest:
            raise ValueError(f"run {req.run_id}: approval of {req.digest} for another image {req.image}")
        envelope = attest_approval(self.services.signer, self.services.image_registry, image, statements.approval(
            req.run_id, req.model, req.version, req.digest, req.approver, req.decided_at, "approve", req.request_id))
        return Attested(image=req.image, predicate_type=statements.APPROVAL, envelope_digest=envelope)

    def promote(self, req: PromotionRequest) -> Promotion:
        """Copy the tested image by digest into the prod registry, tag it ``v<version>``, mark production;
        only when the dev image carries the factory's signature, a passing edge smoke attestation and an approval
        of exactly its digest (else ``PromotionRefused``, nothing copied). Its chain goes to prod with it."""
        from factory.supplychain.steps import promote_signed

        prod = promote_signed(self.services.signer, self.services.image_registry, _parse_image(req.image),
                              req.repository, f"v{req.version}", req.version)
        self.services.model_registry.mark_production(req.model, req.version)
        return Promotion(prod_ref=str(prod))


def data_facts(data: FetchedData, table: bool = True, per_label: dict[str, int] | None = None) -> DataFacts:
    """What the model card says about an upload: blob, bytes, sha256, upload time and, for a table, its data
    rows (the CSV's records less its header); for an image archive, its images (or boxes) per label."""
    import csv

    rows = None
    if table:
        with data.local.open(newline="", encoding="utf-8", errors="replace") as f:
            rows = max(0, sum(1 for record in csv.reader(f) if record) - 1)
    return DataFacts(blob=data.display_name, size=data.size, sha256=data.sha256, uploaded_at=data.uploaded_at,
                     rows=rows, per_label=dict(per_label) if per_label and not table else None)


def kept_precision(metrics: dict[str, float], artifact_format: str) -> Precision | None:
    """The precision an ONNX artifact was kept in, from the ``fp16`` metric its evaluate stage registers
    (1: the fp16 conversion was kept, 0: fp32; ``modelkit.stages.onnx_artifact.choose``); None for another
    format or a version that does not say."""
    if artifact_format != ArtifactFormat.ONNX or "fp16" not in metrics:
        return None
    return Precision.FP16 if metrics["fp16"] >= 0.5 else Precision.FP32


def approval_notice(req: ApprovalRequest, links: dict[str, str]) -> dict[str, Any]:
    """The notification's body: the model card of the run's lineage (passed in the approval request)."""
    from datetime import UTC, datetime

    from factory.card import assemble_card
    from factory.notice import approval_message

    lineage = req.lineage or Lineage(model=req.model, model_version=req.version)
    expires = datetime.fromtimestamp(req.expires_at, UTC).isoformat()
    card = assemble_card(RunSummary(req.run_id, stage=Stage.APPROVAL, lineage=lineage),
                         ApprovalState(expires_at=expires))
    return approval_message(card, links)


def build_facts(req: BuildRequest, model_folder: Path, context: BuildContext, built: BuiltImage, started: str,
                finished: str) -> BuildFacts:
    """What the provenance says about one build: the run's inputs by digest and the builder's parameters."""
    from factory.kit import KIT
    from factory.supplychain.statements import BuildFacts
    from factory.supplychain.steps import tree_sha256

    lock = Path(context.path) / "requirements.lock"
    bases = ", ".join(f"{arch}: {base}" for arch, base in sorted(built.base_images.items()))
    return BuildFacts(model=req.model, version=req.version, run_id=req.run_id, repository=req.repository,
                      source_commit=req.source_commit, model_folder_sha256=tree_sha256(model_folder),
                      kit_sha256=tree_sha256(KIT), context_sha256=context.sha256, data_uri=req.data_uri,
                      data_sha256=req.data_sha256, training_job=req.training_job,
                      lock_sha256=sha256_of(lock) if lock.is_file() else "", base_image=bases,
                      arches=list(built.arches), started_on=started, finished_on=finished)


def _parse_image(image: str) -> ImageRef:
    name, _, digest = image.partition("@")
    registry, _, repository = name.partition("/")
    return ImageRef(registry=registry, repository=repository, digest=digest)
