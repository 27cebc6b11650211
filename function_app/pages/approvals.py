"""The approvals waiting, with the time left before each link expires."""

from __future__ import annotations

from dataclasses import dataclass

import azure.functions as func

from function_app.pages.html import Links, a, duration, esc, page, table

REFRESH_S = 10


@dataclass(frozen=True)
class Waiting:
    """One pending approval: its run, model version, and when its links expire."""

    run_id: str
    model: str
    version: str
    expires_at: str
    seconds_left: float | None


def approvals_page(waiting: list[Waiting], links: Links) -> func.HttpResponse:
    rows = [[a(links.run(w.run_id), w.run_id), a(links.model(w.model), w.model), esc(w.version),
             esc(w.expires_at), duration(w.seconds_left)] for w in waiting]
    body = (f"<p class='count'>{len(waiting)} waiting. The approve and reject links are in the notification "
            "sent to the approvers; each opens the model card.</p>"
            + table(["run", "model", "version", "link expires", "time left"], rows, cls="approvals"))
    return page(200, "Approvals waiting", body, nav=links.nav(), refresh_s=REFRESH_S if waiting else None)
