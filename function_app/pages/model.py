"""One model: its registered versions, which one is in production, and its gate metric across versions."""

from __future__ import annotations

import azure.functions as func

from contract import RunSummary
from factory.history import ModelHistory
from function_app.pages.html import Links, a, esc, line_svg, page, table


def model_page(h: ModelHistory, runs: list[RunSummary], links: Links) -> func.HttpResponse:
    by_version = {r.lineage.model_version: r.run_id for r in reversed(runs) if r.lineage.model == h.name}
    rows = []
    for v in reversed(h.versions):
        run_id = v.tags.get("run_id") or by_version.get(v.version, "")
        metrics = ", ".join(f"{k}={val:.4g}" for k, val in sorted(v.metrics.items()))
        rows.append([esc(v.version), "<span class='pass'>production</span>" if v.version == h.production else "",
                     esc(metrics), a(links.run(run_id), run_id) if run_id else ""])
    prod = f"version {h.production}" if h.production else "none yet"
    body = (f"<p>Production: <strong>{esc(prod)}</strong>. Gate metric: <code>{esc(h.key_metric)}</code>.</p>"
            f"<h2>{esc(h.key_metric)} across versions</h2>" + line_svg(h.trend(), h.key_metric, h.limits)
            + "<h2>Versions</h2>" + table(["version", "stage", "metrics", "run"], rows, cls="versions"))
    return page(200, f"Model {h.name}", body, nav=links.nav())
