"""The app's HTML pages: one module per page, a tiny HTML/SVG kit (``html``). Server-rendered, escaped, no
script, under a strict Content-Security-Policy (see ``html.CSP``).

- ``message``: a short answer (link refused, decision recorded, ...);
- ``confirm``: the model card behind an approval link (``card``);
- ``runs_page`` / ``run_page`` / ``model_page`` / ``approvals_page`` / ``fleet_page``: the dashboard.
"""

from __future__ import annotations

import azure.functions as func

from function_app.pages.approvals import Waiting, approvals_page
from function_app.pages.card import confirm
from function_app.pages.fleet import fleet_page
from function_app.pages.html import esc, page
from function_app.pages.model import model_page
from function_app.pages.run import run_page
from function_app.pages.runs import runs_page

__all__ = ["Waiting", "approvals_page", "confirm", "fleet_page", "message", "model_page", "run_page", "runs_page"]


def message(status: int, title: str, text: str) -> func.HttpResponse:
    return page(status, title, f"<p>{esc(text)}</p>")
