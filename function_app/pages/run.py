"""One run: its stage timeline (a bar per stage with its seconds, the current stage live), the lineage chain
with links, the fleet rollout's rings and signals (when the model has one), and the model card of what it
produced."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from factory import history
from factory.card import ModelCard
from function_app.pages.card import card_body
from function_app.pages.html import Links, a, bars_svg, esc, facts, page
from function_app.pages.rollout import rollout_section

REFRESH_S = 3


def _chain(lineage: dict[str, Any], links: Links) -> str:
    items = []
    for step, value in history.lineage_chain(lineage):
        if step == "model version" and value and lineage.get("model"):
            shown = a(links.model(str(lineage["model"])), f"{lineage['model']} version {value}")
        else:
            shown = f"<code>{esc(value)}</code>" if value else "<span class='na'>not reached</span>"
        items.append(f"<li><strong>{esc(step)}</strong>: {shown}</li>")
    return f"<ol class='chain'>{''.join(items)}</ol>"


def run_page(run: dict[str, Any], card: ModelCard | None, links: Links, now: float) -> func.HttpResponse:
    lineage = run.get("lineage") or {}
    bars = history.timeline(run, now)
    result = history.result_of(run)
    head = facts([("model", a(links.model(str(lineage.get("model", ""))), lineage.get("model", ""))),
                  ("result", esc(result)), ("stage", esc(history.stage_of(run))),
                  ("started (UTC)", esc(str(run.get("created") or "")[:19])), ("reason", esc(run.get("reason") or ""))])
    body = (head + "<h2>Stage timeline</h2>" + bars_svg([(b.stage, b.seconds, b.live) for b in bars])
            + "<h2>Lineage chain</h2>" + _chain(lineage, links) + rollout_section(lineage.get("rollout") or {})
            + ("<h2>Model card</h2>" + card_body(card) if card and lineage.get("model_version") else ""))
    refresh = REFRESH_S if history.in_flight(run) else None
    return page(200, f"Run {run['run_id']}", body, nav=links.nav(), refresh_s=refresh)
