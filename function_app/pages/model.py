"""One model: its registered versions, which one is in production, and its gate metric across versions."""

from __future__ import annotations

import azure.functions as func

from contract import RolloutStatus, RunSummary
from factory.history import ModelHistory
from function_app.pages.html import Links, a, esc, line_svg, page, table


def devices_line(running: dict[str, int] | None) -> str:
    """Which version runs on how many devices of the model's fleet (None: the model declares no rollout)."""
    if running is None:
        return "<p>Devices: <span class='na'>no rollout declared (the fleet is not read for this model)</span></p>"
    total = sum(running.values())
    if not total:
        return "<p>Devices: <span class='na'>no device in the model's fleet</span></p>"
    parts = [f"version {esc(v)} on {n}" if v else f"{n} reporting no version yet" for v, n in running.items()]
    return f"<p>Devices: {total} in the model's fleet: " + ", ".join(parts) + ".</p>"


def model_page(h: ModelHistory, runs: list[RunSummary], links: Links,
               running: dict[str, int] | None = None) -> func.HttpResponse:
    """``running``: reported version -> devices (``lookups.versions_on_devices``); None without a rollout."""
    by_version = {r.lineage.model_version: r.run_id for r in reversed(runs) if r.lineage.model == h.name}
    rolled_back = {r.lineage.model_version for r in runs if r.lineage.model == h.name and r.lineage.rollout
                   and r.lineage.rollout.status == RolloutStatus.ROLLED_BACK}
    rows = []
    for v in reversed(h.versions):
        run_id = v.tags.get("run_id") or by_version.get(v.version, "")
        metrics = ", ".join(f"{k}={val:.4g}" for k, val in sorted(v.metrics.items()))
        stage = ("<span class='pass'>production</span>" if v.version == h.production else
                 "<span class='fail'>rolled back</span>" if v.version in rolled_back else "")
        rows.append([esc(v.version), stage,
                     esc(running.get(v.version, 0)) if running is not None else "", esc(metrics),
                     a(links.run(run_id), run_id) if run_id else ""])
    prod = f"version {h.production}" if h.production else "none yet"
    body = (f"<p>Production: <strong>{esc(prod)}</strong>. Gate metric: <code>{esc(h.key_metric)}</code>.</p>"
            + devices_line(running)
            + f"<h2>{esc(h.key_metric)} across versions</h2>" + line_svg(h.trend(), h.key_metric, h.limits)
            + "<h2>Versions</h2>" + table(["version", "stage", "devices", "metrics", "run"], rows, cls="versions"))
    return page(200, f"Model {h.name}", body, nav=links.nav())
