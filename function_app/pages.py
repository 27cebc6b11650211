"""The few HTML pages the app serves (plain, escaped, no scripts)."""

from __future__ import annotations

import html

import azure.functions as func

from factory.approval import ApprovalClaim

_STYLE = ("body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}table{border-collapse:collapse}"
          "td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}button{font-size:1.1rem;padding:.4rem 1rem}")


def _page(status: int, title: str, body: str) -> func.HttpResponse:
    doc = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return func.HttpResponse(doc, status_code=status, mimetype="text/html",
                             headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})


def message(status: int, title: str, text: str) -> func.HttpResponse:
    return _page(status, title, f"<p>{html.escape(text)}</p>")


def confirm(claim: ApprovalClaim, url: str) -> func.HttpResponse:
    """The confirmation page a GET on an approval link shows: deciding needs the POST of this form."""
    verb = "Approve" if claim.decision == "approve" else "Reject"
    body = (f"<p>Run <code>{html.escape(claim.run_id)}</code>, model version {html.escape(claim.version)}, "
            f"image <code>{html.escape(claim.digest)}</code>.</p>"
            f"<form method='post' action='{html.escape(url, quote=True)}'>"
            f"<button type='submit'>{verb} this version</button></form>")
    return _page(200, f"{verb}?", body)


def dashboard(runs: list[dict]) -> func.HttpResponse:
    rows = []
    for run in runs:
        lin = run.get("lineage") or {}
        cells = [run["run_id"], lin.get("model", ""), run.get("runtime_status") or "", run.get("stage") or "",
                 run.get("result") or "", lin.get("model_version", ""), lin.get("image_digest", "")[:19],
                 (lin.get("edge") or {}).get("status", ""), lin.get("decision", ""), lin.get("prod_ref", ""),
                 run.get("reason") or ""]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    head = ("<tr><th>run</th><th>model</th><th>status</th><th>stage</th><th>result</th><th>version</th>"
            "<th>image</th><th>edge</th><th>decision</th><th>prod</th><th>reason</th></tr>")
    return _page(200, "Model Factory runs", f"<table>{head}{''.join(rows)}</table>")
