"""The dashboard's front page: every run, filtered by model, result and stage; the approvals waiting on top."""

from __future__ import annotations

import azure.functions as func

from contract import STAGES, RunStatus, RunSummary
from factory import history
from function_app.pages.html import Links, a, esc, page, table

REFRESH_S = 5


def _select(name: str, label: str, options: list[str], chosen: str) -> str:
    opts = "".join(f"<option value='{esc(o)}'{' selected' if o == chosen else ''}>{esc(o or 'any')}</option>"
                   for o in ["", *options])
    return f"<label>{esc(label)} <select name='{esc(name)}'>{opts}</select></label>"


def filters_form(links: Links, models: list[str], model: str, result: str, stage: str) -> str:
    code = f"<input type='hidden' name='code' value='{esc(links.code)}'>" if links.code else ""
    return (f"<form method='get' action='{esc(links.base)}' class='filters'>"
            + _select("model", "model", models, model) + _select("result", "result", list(history.RESULTS), result)
            + _select("stage", "stage", [*STAGES, "done"], stage) + code
            + "<button type='submit'>Filter</button></form>")


def run_row(run: RunSummary, links: Links) -> list[str]:
    lin = run.lineage
    shown = ", ".join(f"{k}={v:.4g}" for k, v in list(lin.metrics.items())[:2] if isinstance(v, int | float))
    result = run.outcome
    klass = "pass" if result == RunStatus.SUCCEEDED else "fail" if result in (
        RunStatus.REJECTED, RunStatus.FAILED, RunStatus.ROLLED_BACK) else "na"
    return [a(links.run(run.run_id), run.run_id), a(links.model(lin.model), lin.model) if lin.model else "",
            esc(run.created[:19]), esc(run.current_stage or ""),
            f"<span class='{klass}'>{esc(result)}</span>", esc(lin.model_version), esc(shown),
            esc(lin.edge.status if lin.edge else ""), esc(lin.decision or ""), esc(run.reason)]


def skipped_folders(broken: dict[str, str]) -> str:
    """The model folders the catalog skips because they do not load, each with its reason (file and field)."""
    if not broken:
        return ""
    rows = [[esc(name), esc(reason)] for name, reason in sorted(broken.items())]
    return (f"<p><strong>{len(broken)} model folder{'s' if len(broken) > 1 else ''} skipped</strong> "
            "(they do not load; the other models run):</p>" + table(["folder", "reason"], rows, cls="broken"))


def runs_page(runs: list[RunSummary], models: list[str], links: Links, model: str = "", result: str = "",
              stage: str = "", broken: dict[str, str] | None = None) -> func.HttpResponse:
    """The runs, filtered; the approvals waiting and the skipped (broken) model folders above them."""
    shown = history.filter_runs(runs, model, result, stage)
    waiting = history.waiting_approvals(runs)
    banner = ""
    if waiting:
        banner = (f"<p><strong>{len(waiting)} approval{'s' if len(waiting) > 1 else ''} waiting:</strong> "
                  + ", ".join(a(links.run(r.run_id), f"{r.lineage.model} version {r.lineage.model_version}")
                              for r in waiting)
                  + f" ({a(links.url('/approvals'), 'time left')})</p>")
    body = (banner + skipped_folders(broken or {}) + filters_form(links, models, model, result, stage)
            + f"<p class='count'>{len(shown)} of {len(runs)} runs</p>"
            + table(["run", "model", "started (UTC)", "stage", "result", "version", "metrics", "edge", "decision",
                     "reason"], [run_row(r, links) for r in shown], cls="runs"))
    refresh = REFRESH_S if any(r.in_flight for r in runs) else None
    return page(200, "Model Factory runs", body, nav=links.nav(), refresh_s=refresh)
