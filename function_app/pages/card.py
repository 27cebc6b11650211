"""The model card behind an approval link (GET): the evidence, then the one button the link allows (POST).

The form has no ``action``: it posts back to the signed URL it was served from, query included.
"""

from __future__ import annotations

import azure.functions as func

from factory.approval import ApprovalClaim
from factory.card import REASON_MAX, ImageRow, ModelCard
from factory.supplychain import statements
from function_app.pages.html import NOT_MEASURED, a, duration, esc, facts, num, or_na, page, size, table


def _verdict(passed: bool | None, gated: bool) -> str:
    if not gated:
        return "<span class='na'>not gated</span>"
    if passed is None:
        return NOT_MEASURED
    return "<span class='pass'>pass</span>" if passed else "<span class='fail'>fail</span>"


def _delta(delta: float | None, better: bool | None) -> str:
    if delta is None:
        return "<span class='na'>no production value</span>"
    klass = "better" if better else "worse"
    return f"<span class='{klass}'>{esc(f'{delta:+.4g}')}</span>"


def metrics_table(card: ModelCard) -> str:
    champ = card.champion or "none (first version)"
    rows = [[esc(m.name) + (" <span class='na'>(key)</span>" if m.name == card.key_metric else ""),
             num(m.value), num(m.production) if m.production is not None else "<span class='na'>none</span>",
             _delta(m.delta, m.better), esc(m.threshold), _verdict(m.passed, m.gated)] for m in card.metrics]
    return table(["metric", f"version {card.version}", f"production ({champ})", "delta", "gate threshold",
                  "result"], rows, cls="metrics")


def data_facts(card: ModelCard) -> str:
    d = card.data
    labels = ", ".join(f"{k}: {v}" for k, v in d.per_label.items()) if d.per_label else None
    return facts([("blob", or_na(d.blob or None)), ("size", size(d.size)), ("rows", or_na(d.rows)),
                  ("images per label", or_na(labels)), ("sha256", f"<code>{or_na(d.sha256 or None)}</code>"),
                  ("uploaded", or_na(d.uploaded_at or None))])


def edge_table(card: ModelCard) -> str:
    if not card.edge:
        return f"<p>{NOT_MEASURED}</p>"
    rows = [[or_na(e.device), or_na(e.arch),
             f"<span class='{'pass' if e.status == 'pass' else 'fail'}'>{esc(e.status)}</span>"
             + (f" {esc(e.reason)}" if e.reason else ""),
             or_na(e.p50_ms, "{:.1f} ms"), or_na(e.p95_ms, "{:.1f} ms"), or_na(e.requests),
             size(e.bytes_pulled)] for e in card.edge]
    return table(["device", "architecture", "result", "p50 latency", "p95 latency", "requests checked",
                  "bytes pulled"], rows, cls="edge")


def update_size(image: ImageRow) -> str:
    """Per architecture, what a device holding the production image pulls for this one."""
    per_arch = image.update_bytes
    if not per_arch:
        return NOT_MEASURED
    parts = [_arch_prefix(arch) + size(n) for arch, n in per_arch.items()]
    against = (f" (against <code>{esc(image.update_from)}</code>)" if image.update_from
               else " (no version in production: the whole image)")
    return ", ".join(parts) + against


def _arch_prefix(arch: str) -> str:
    return f"{esc(arch)}: " if arch else ""


def image_sizes(image: ImageRow) -> str:
    """Per architecture, the image's compressed size (what a device with none of its layers downloads)."""
    per_arch = image.size_bytes
    if not per_arch:
        return NOT_MEASURED
    return ", ".join(_arch_prefix(arch) + size(n) for arch, n in per_arch.items())


def layers_shared(image: ImageRow) -> str:
    """Per architecture, how many of the image's layers a device holding the production image has already."""
    shared, total = image.layers_shared, image.layers_total
    if not shared or not total:
        return NOT_MEASURED
    return ", ".join(_arch_prefix(arch) + esc(f"{n} of {total[arch]}") for arch, n in shared.items() if arch in total)


def image_facts(card: ModelCard) -> str:
    i = card.image
    return facts([("digest", f"<code>{or_na(i.digest)}</code>"),
                  ("reference", f"<code>{or_na(i.ref)}</code>"),
                  ("size", image_sizes(i)), ("update size vs production", update_size(i)),
                  ("layers shared with production", layers_shared(i))])


ATTESTATION_NAMES = {statements.PROVENANCE: "SLSA provenance", statements.VERIFICATION: "verification",
                     statements.SBOM: "SBOM (SPDX)", statements.EDGE_SMOKE: "edge smoke test",
                     statements.APPROVAL: "approval"}


def signature_facts(card: ModelCard) -> str:
    """Who signed the image (key id), for which name, where the signature and attestations are, and the
    digest of each attestation's envelope; ``model-factory verify`` checks them all."""
    sig = card.signature
    if sig is None:
        return "<p><span class='fail'>not signed</span> (the run has not signed an image yet)</p>"
    rows = [[esc(ATTESTATION_NAMES.get(att.predicate_type, att.predicate_type)),
             f"<code>{esc(att.envelope_digest)}</code>"] for att in sig.attestations]
    model = (f"<code>{esc(sig.model_digest)}</code> (OpenSSF model-signing, checked by the server at start)"
             if sig.model_digest else "<span class='na'>not signed</span>")
    verify = f"model-factory verify {sig.signed_as}@{card.image.digest or ''}"
    return facts([("signed by key", f"<code>{esc(sig.key_id)}</code>"),
                  ("signed as", f"<code>{esc(sig.signed_as)}</code>"),
                  ("signature", f"<code>{esc(sig.signature_ref)}</code>"),
                  ("attestations", f"<code>{esc(sig.attestation_ref)}</code>"), ("model files", model),
                  ("check it", f"<code>{esc(verify)}</code>")]) + table(
        ["attestation", "envelope digest"], rows, cls="attestations")


def lineage_facts(card: ModelCard) -> str:
    job = card.training_job
    if job.url.startswith(("https://", "http://")):
        training = a(job.url, job.label or job.name)
    else:
        training = or_na(job.label or job.name or None)
    rows = [("source commit", f"<code>{or_na(card.source_commit)}</code>"), ("training job", training)]
    if job.version_url.startswith(("https://", "http://")) and card.version:
        rows.append(("model version (MLflow)", a(job.version_url, f"{card.model} version {card.version}")))
    if card.rollout:
        rows.append(("after approval, rolls out to", f"<code>{esc(card.rollout)}</code>"))
    return facts(rows)


def rollout_facts(card: ModelCard) -> str:
    """Where the version goes after approval: the fleet condition and each ring's devices now, or that the model
    declares no rollout (the run ends at promote)."""
    if not card.fleet:
        return "<p>No rollout declared: after approval the version goes to the prod registry only.</p>"
    if card.rings is None:
        sizes = f"<p>Ring sizes: {NOT_MEASURED} (the fleet could not be read).</p>"
    else:
        total = sum(r.devices for r in card.rings)
        rows = [[esc(r.name), esc(f"{r.percent} %"), esc(r.devices)] for r in card.rings]
        sizes = (f"<p>{total} device{'s' * (total != 1)} in the fleet now.</p>"
                 + table(["ring", "share of the fleet (cumulative)", "devices in the ring now"], rows, cls="rings"))
    return facts([("fleet", f"<code>{esc(card.fleet)}</code>")]) + sizes


def decisions_list(card: ModelCard) -> str:
    if not card.decisions:
        return "<p>Nobody has decided yet.</p>"
    rows = [[esc(d.who or "unknown"), esc(d.decision), esc(d.at), esc(d.reason)] for d in card.decisions]
    return table(["who", "decision", "when", "reason"], rows, cls="decisions")


def card_body(card: ModelCard) -> str:
    """Every section of the card (also shown on the run page)."""
    gate = ("<span class='pass'>passed</span>" if card.gate_passed else
            "<span class='fail'>failed</span>" if card.gate_passed is False else NOT_MEASURED)
    reasons = "".join(f"<li>{esc(r)}</li>" for r in card.gate_reasons)
    return "".join([
        facts([("model", esc(card.model)), ("version", esc(card.version)), ("run", f"<code>{esc(card.run_id)}</code>"),
               ("task", or_na(card.task)), ("time left", duration(card.seconds_left) if card.expires_at else
                                            NOT_MEASURED), ("link expires", or_na(card.expires_at))]),
        f"<h2>Quality gate: {gate}</h2>", f"<ul>{reasons}</ul>" if reasons else "",
        f"<p>Champion: {esc(card.champion or 'none, this is the first version')}</p>", metrics_table(card),
        f"<p>Precision: {or_na(card.precision)}</p>",
        "<h2>Data</h2>", data_facts(card), "<h2>Edge smoke test</h2>", edge_table(card),
        "<h2>Image</h2>", image_facts(card), "<h2>Signature and attestations</h2>", signature_facts(card),
        "<h2>Rollout</h2>", rollout_facts(card),
        "<h2>Lineage</h2>", lineage_facts(card),
        "<h2>Decisions so far</h2>", decisions_list(card)])


def confirm(claim: ApprovalClaim, url: str = "", card: ModelCard | None = None) -> func.HttpResponse:
    """The page a GET on an approval link shows; deciding needs the POST of its form."""
    verb = "Approve" if claim.decision == "approve" else "Reject"
    head = (f"<p>Run <code>{esc(claim.run_id)}</code>, model version {esc(claim.version)}, "
            f"image <code>{esc(claim.digest)}</code>.</p>")
    if claim.decision == "approve":
        form = ("<form method='post'><button class='approve' type='submit'>"
                "Approve this version</button></form>")
    else:
        form = ("<form method='post'><label for='reason'>Reason (optional, recorded in the lineage)</label>"
                f"<textarea id='reason' name='reason' rows='3' maxlength='{REASON_MAX}'></textarea>"
                "<button class='reject' type='submit'>Reject this version</button>"
                "</form>")
    body = head + (card_body(card) if card else "") + "<h2>Decide</h2>" + form
    title = f"{verb} {card.model} version {card.version}?" if card else f"{verb}?"
    return page(200, title, body)
