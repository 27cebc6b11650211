"""A tiny HTML + SVG kit for the app's pages: escaping, the page shell with its Content-Security-Policy, tables,
links that keep the caller's function key, and two inline-SVG charts (bars, a line of points).

Every page is server-rendered, with one inline stylesheet allowed by its hash and no script at all, so it
works offline and under ``default-src 'none'``; a page refreshes itself with ``<meta http-equiv=refresh>``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import urllib.parse
from collections.abc import Iterable, Sequence

import azure.functions as func

STYLE = (
    ":root{color-scheme:light}body{font-family:system-ui,sans-serif;margin:0 auto;padding:1rem;max-width:72rem;"
    "color:#1b1f24;line-height:1.4}h1{font-size:1.5rem;margin:.4rem 0}h2{font-size:1.15rem;margin:1.4rem 0 .4rem}"
    "nav{display:flex;flex-wrap:wrap;gap:.8rem;padding:.4rem 0;border-bottom:1px solid #d0d7de}"
    "nav a{font-weight:600}a{color:#0a58ca}.scroll{overflow-x:auto}"
    "table{border-collapse:collapse;min-width:100%}td,th{border:1px solid #d0d7de;padding:.3rem .5rem;"
    "text-align:left;vertical-align:top}th{background:#f6f8fa}code{font-size:.9em;word-break:break-all}"
    ".pass{color:#116329;font-weight:600}.fail{color:#a40e26;font-weight:600}.na{color:#6e7781;font-style:italic}"
    ".better{color:#116329}.worse{color:#a40e26}.live{fill:#bf8700}.bar{fill:#0969da}.point{fill:#0969da}"
    "svg.timeline{max-width:46rem}svg.trend{max-width:46rem}.prodpoint{fill:#116329}.line{stroke:#0969da;fill:none;stroke-width:2}.limit{stroke:#a40e26;"
    "stroke-dasharray:4 3}svg text{font-size:12px;fill:#1b1f24}.grid{display:grid;gap:.2rem 1rem;"
    "grid-template-columns:max-content 1fr}.grid dt{font-weight:600}.grid dd{margin:0}"
    "form{margin:1rem 0;display:flex;flex-wrap:wrap;gap:.5rem;align-items:end}textarea{width:100%;max-width:36rem}"
    "button{font-size:1.05rem;padding:.45rem 1.1rem}.approve{background:#1f883d;color:#fff;border:0}"
    ".reject{background:#cf222e;color:#fff;border:0}@media (max-width:600px){body{padding:.5rem}"
    ".grid{grid-template-columns:1fr}td,th{padding:.2rem .3rem}}"
)
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = (f"default-src 'none'; style-src '{STYLE_HASH}'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
NOT_MEASURED = "<span class='na'>not measured</span>"


def esc(value: object) -> str:
    """Text for HTML content or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def security_headers() -> dict[str, str]:
    return {"Content-Security-Policy": CSP, "Cache-Control": "no-store", "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def page(status: int, title: str, body: str, nav: str = "", refresh_s: int | None = None) -> func.HttpResponse:
    """The page shell: viewport for phones, the hashed stylesheet, optional self-refresh."""
    refresh = f"<meta http-equiv='refresh' content='{int(refresh_s)}'>" if refresh_s else ""
    doc = ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
           "<meta name='viewport' content='width=device-width,initial-scale=1'>"
           f"{refresh}<link rel='icon' href='data:,'><title>{esc(title)}</title><style>{STYLE}</style></head><body>"
           f"{nav}<h1>{esc(title)}</h1>{body}</body></html>")
    return func.HttpResponse(doc, status_code=status, mimetype="text/html", charset="utf-8",
                             headers=security_headers())


class Links:
    """URLs between dashboard pages; each keeps the caller's function key (``code``) when it came in the URL,
    so a browser can move between pages (on Azure behind Entra sign-in there is no key to keep)."""

    def __init__(self, base: str = "/api/dashboard", code: str = "") -> None:
        self.base, self.code = base.rstrip("/"), code

    def url(self, path: str = "", **params: str) -> str:
        query = {k: v for k, v in params.items() if v}
        if self.code:
            query["code"] = self.code
        tail = ("?" + urllib.parse.urlencode(query)) if query else ""
        return self.base + path + tail

    def run(self, run_id: str) -> str:
        return self.url("/runs/" + urllib.parse.quote(run_id, safe=""))

    def model(self, name: str) -> str:
        return self.url("/models/" + urllib.parse.quote(name, safe=""))

    def nav(self) -> str:
        return (f"<nav><a href='{esc(self.url())}'>Runs</a><a href='{esc(self.url('/approvals'))}'>"
                f"Approvals waiting</a><a href='{esc(self.url('/fleet'))}'>Fleet</a></nav>")


def a(href: str, text: object) -> str:
    return f"<a href='{esc(href)}'>{esc(text)}</a>"


def table(head: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """A table whose cells are already HTML (escape user data with ``esc`` first)."""
    head_html = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    klass = f" class='{esc(cls)}'" if cls else ""
    return f"<div class='scroll'><table{klass}><thead><tr>{head_html}</tr></thead><tbody>{body}</tbody></table></div>"


def facts(pairs: Iterable[tuple[str, str]]) -> str:
    """A definition list of ``(label, html)``."""
    return "<dl class='grid'>" + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in pairs) + "</dl>"


def or_na(value: object, fmt: str = "{}") -> str:
    """``value`` formatted and escaped, or "not measured" when the lineage does not hold it."""
    if value is None or value == "":
        return NOT_MEASURED
    return esc(fmt.format(value))


def num(value: float | None, digits: int = 4) -> str:
    return NOT_MEASURED if value is None else esc(f"{value:.{digits}g}")


def size(value: object) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return NOT_MEASURED
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1000 or unit == "GB":
            return esc(f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}")
        value /= 1000
    return esc(str(value))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return NOT_MEASURED
    s = int(seconds)
    return esc(f"{s // 3600} h {s % 3600 // 60} min" if s >= 3600 else f"{s // 60} min {s % 60} s" if s >= 60
               else f"{seconds:.0f} s")


def bars_svg(rows: Sequence[tuple[str, float | None, bool]], width: int = 640) -> str:
    """A horizontal bar per ``(label, seconds, live)`` that has seconds; a row without seconds is labelled
    "not reached". ``live`` bars (the current stage) get the ``live`` class."""
    row_h, label_w, value_w = 26, 90, 90
    track = width - label_w - value_w
    top = max([s for _, s, _ in rows if s is not None] or [1.0]) or 1.0
    parts = []
    for i, (label, seconds, live) in enumerate(rows):
        y = i * row_h
        parts.append(f"<text x='0' y='{y + 17}'>{esc(label)}</text>")
        if seconds is None:
            parts.append(f"<text x='{label_w}' y='{y + 17}' class='na'>not reached</text>")
            continue
        w = max(2.0, track * seconds / top)
        klass = "bar live" if live else "bar"
        note = f"{seconds:.0f} s" + (" (running)" if live else "")
        parts.append(f"<rect class='{klass}' data-stage='{esc(label)}' x='{label_w}' y='{y + 5}' width='{w:.1f}' "
                     f"height='16'><title>{esc(label)}: {esc(note)}</title></rect>")
        parts.append(f"<text x='{label_w + w + 6:.1f}' y='{y + 17}'>{esc(note)}</text>")
    height = row_h * len(rows) + 4
    return (f"<svg class='timeline' role='img' aria-label='stage timeline' viewBox='0 0 {width} {height}' "
            f"width='100%' preserveAspectRatio='xMinYMin meet'>{''.join(parts)}</svg>")


def line_svg(points: Sequence[tuple[str, float, bool]], metric: str, limits: Sequence[float] = (),
             width: int = 640, height: int = 220) -> str:
    """A line through one point per ``(label, value, is_production)``, oldest first, with dashed lines at
    ``limits`` (the gate's bounds). No points: a note instead of a chart."""
    if not points:
        return "<p class='na'>no version with this metric yet</p>"
    pad_l, pad_r, pad_t, pad_b = 56, 16, 12, 28
    values = [v for _, v, _ in points] + list(limits)
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 1, high + 1
    span = high - low
    x_of = (lambda i: pad_l + (width - pad_l - pad_r) * (i / (len(points) - 1))) if len(points) > 1 else (
        lambda i: pad_l + (width - pad_l - pad_r) / 2)
    y_of = lambda v: pad_t + (height - pad_t - pad_b) * (1 - (v - low) / span)  # noqa: E731
    parts = [f"<text x='0' y='{pad_t + 4}'>{esc(f'{high:.4g}')}</text>",
             f"<text x='0' y='{height - pad_b}'>{esc(f'{low:.4g}')}</text>"]
    for limit in limits:
        y = y_of(limit)
        parts.append(f"<line class='limit' x1='{pad_l}' x2='{width - pad_r}' y1='{y:.1f}' y2='{y:.1f}'>"
                     f"<title>gate bound {esc(f'{limit:g}')}</title></line>")
    coords = " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, (_, v, _) in enumerate(points))
    parts.append(f"<polyline class='line' points='{coords}'/>")
    for i, (label, value, prod) in enumerate(points):
        klass = "point prodpoint" if prod else "point"
        tip = f"version {label}: {metric} = {value:.4g}" + (" (production)" if prod else "")
        parts.append(f"<circle class='{klass}' data-version='{esc(label)}' cx='{x_of(i):.1f}' cy='{y_of(value):.1f}' "
                     f"r='{6 if prod else 4}'><title>{esc(tip)}</title></circle>")
        parts.append(f"<text x='{x_of(i) - 8:.1f}' y='{height - 8}'>v{esc(label)}</text>")
    return (f"<svg class='trend' role='img' aria-label='{esc(metric)} across versions' viewBox='0 0 {width} {height}'"
            f" width='100%' preserveAspectRatio='xMinYMin meet'>{''.join(parts)}</svg>")
