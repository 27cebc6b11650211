"""The approval notification: the model card's summary as a Teams-compatible Adaptive Card (1.4, in a
``message`` with one attachment, as Teams incoming webhooks and Workflows take it) plus the same facts as plain
JSON fields (for a Logic App, Slack's ``text``, or any other receiver).

The card's buttons open the signed links: a GET shows the model card and decides nothing; deciding is the
page's POST.
"""

from __future__ import annotations

from typing import Any

from factory.card import MetricRow, ModelCard

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"


def _fmt(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.4g}"


def metric_line(m: MetricRow) -> str:
    prod = f"production {_fmt(m.production)}, {m.delta:+.4g}" if m.delta is not None else "no production value"
    verdict = "not gated" if not m.gated else "pass" if m.passed else "not measured" if m.passed is None else "FAIL"
    return f"{_fmt(m.value)} ({prod}); gate {m.threshold}: {verdict}"


def _edge_line(card: ModelCard) -> str:
    if not card.edge:
        return "not measured"
    return "; ".join(f"{e.device or 'device'} ({e.arch or 'arch not measured'}) {e.status}, "
                     f"p50 {_fmt(e.p50_ms)} ms, p95 {_fmt(e.p95_ms)} ms, "
                     f"{e.requests if e.requests is not None else '?'} requests" for e in card.edge)


def _size(value: Any) -> str:
    return f"{value / 1e6:.1f} MB" if isinstance(value, int | float) and not isinstance(value, bool) else "not measured"


def _per_arch_size(per_arch: dict[str, int] | None) -> str:
    if not per_arch:
        return "not measured"
    return ", ".join((f"{arch} " if arch else "") + _size(n) for arch, n in sorted(per_arch.items()))


def _update(card: ModelCard) -> str:
    return _per_arch_size(card.image.update_bytes)


def summary_text(card: ModelCard) -> str:
    key = next((m for m in card.metrics if m.name == card.key_metric), card.metrics[0] if card.metrics else None)
    parts = [f"Model {card.model} version {card.version} (run {card.run_id}) waits for approval."]
    if key:
        parts.append(f"{key.name}: {metric_line(key)}.")
    parts.append(f"Edge: {_edge_line(card)}.")
    parts.append(f"Image {_per_arch_size(card.image.size_bytes)}, update {_update(card)}.")
    if card.expires_at:
        parts.append(f"The links expire at {card.expires_at}.")
    return " ".join(parts)


def _facts(card: ModelCard) -> list[dict[str, str]]:
    data = card.data
    rows = data.rows
    return [{"title": "Model", "value": f"{card.model} version {card.version} ({card.task or 'task not known'})"},
            {"title": "Run", "value": card.run_id},
            {"title": "Gate", "value": "passed" if card.gate_passed else "failed" if card.gate_passed is False
             else "not measured"},
            {"title": "Champion", "value": card.champion or "none (first version)"},
            *({"title": m.name, "value": metric_line(m)} for m in card.metrics),
            {"title": "Precision", "value": card.precision or "not measured"},
            {"title": "Edge", "value": _edge_line(card)},
            {"title": "Image", "value": f"{card.image.digest or 'not measured'}, "
             f"{_per_arch_size(card.image.size_bytes)}, update {_update(card)}"},
            {"title": "Data", "value": f"{data.blob or 'not measured'}, "
             f"{rows if rows is not None else '?'} rows, sha256 {data.sha256 or 'not measured'}"},
            {"title": "Source commit", "value": card.source_commit or "not measured"},
            {"title": "Expires", "value": card.expires_at or "not measured"}]


def adaptive_card(card: ModelCard, links: dict[str, str]) -> dict[str, Any]:
    return {"$schema": SCHEMA, "type": "AdaptiveCard", "version": "1.4", "msteams": {"width": "Full"},
            "body": [{"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": True,
                      "text": f"Approve {card.model} version {card.version}?"},
                     {"type": "TextBlock", "wrap": True, "text": summary_text(card)},
                     {"type": "FactSet", "facts": _facts(card)}],
            "actions": [{"type": "Action.OpenUrl", "title": "Review and approve", "url": links["approve"]},
                        {"type": "Action.OpenUrl", "title": "Review and reject", "url": links["reject"]}]}


def approval_message(card: ModelCard, links: dict[str, str]) -> dict[str, Any]:
    """The webhook body: a Teams ``message`` with the Adaptive Card attached, plus the plain fields."""
    text = summary_text(card)
    return {"type": "message", "text": text, "summary": text,
            "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": adaptive_card(card, links)}],
            "run_id": card.run_id, "model": card.model, "version": card.version, "links": links,
            "card": card.to_dict()}
