"""One run: its stage timeline (a bar per stage with its seconds, the current stage live), the lineage chain
with links, the fleet rollout's rings and signals (when the model has one), and the model card of what it
produced."""

from __future__ import annotations

import azure.functions as func

from contract import Lineage, RunSummary
from factory import history
from factory.card import ModelCard
from function_app.pages.card import card_body
from function_app.pages.html import Links, a, bars_svg, esc, facts, page
from function_app.pages.rollout import rollout_section

REFRESH_S = 3


def _chain(lineage: Lineage, links: Links, card: ModelCard | None) -> str:
    job = card.training_job if card else None
    items = []
    for step, value in history.lineage_chain(lineage):
        if step == "model version" and value and lineage.model:
            shown = a(links.model(lineage.model), f"{lineage.model} version {value}")
        elif step == "training job" and value and job and job.url.startswith(("https://", "http://")):
            shown = a(job.url, value)  # the run's page (locally: the stack's MLflow UI)
        else:
            shown = f"<code>{esc(value)}</code>" if value else "<span class='na'>not reached</span>"
        items.append(f"<li><strong>{esc(step)}</strong>: {shown}</li>")
    return f"<ol class='chain'>{''.join(items)}</ol>"


def run_page(run: RunSummary, card: ModelCard | None, links: Links, now: float) -> func.HttpResponse:
    lineage = run.lineage
    bars = history.timeline(run, now)
    head = facts([("model", a(links.model(lineage.model), lineage.model)),
                  ("result", esc(run.outcome)), ("stage", esc(run.current_stage or "")),
                  ("started (UTC)", esc(run.created[:19])), ("reason", esc(run.reason))])
    body = (head + "<h2>Stage timeline</h2>" + bars_svg([(b.stage, b.seconds, b.live) for b in bars])
            + "<h2>Lineage chain</h2>" + _chain(lineage, links, card) + rollout_section(lineage.rollout)
            + ("<h2>Model card</h2>" + card_body(card) if card and lineage.model_version else ""))
    refresh = REFRESH_S if run.in_flight else None
    return page(200, f"Run {run.run_id}", body, nav=links.nav(), refresh_s=refresh)
