"""The approvals waiting, with the time left before each link expires."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from function_app.pages.html import Links, a, duration, esc, page, table

REFRESH_S = 10


def approvals_page(waiting: list[dict[str, Any]], links: Links) -> func.HttpResponse:
    """``waiting``: ``{run_id, model, version, expires_at, seconds_left}`` per pending approval."""
    rows = [[a(links.run(w["run_id"]), w["run_id"]), a(links.model(w["model"]), w["model"]), esc(w["version"]),
             esc(w.get("expires_at") or ""), duration(w.get("seconds_left"))] for w in waiting]
    body = (f"<p class='count'>{len(waiting)} waiting. The approve and reject links are in the notification "
            "sent to the approvers; each opens the model card.</p>"
            + table(["run", "model", "version", "link expires", "time left"], rows, cls="approvals"))
    return page(200, "Approvals waiting", body, nav=links.nav(), refresh_s=REFRESH_S if waiting else None)
