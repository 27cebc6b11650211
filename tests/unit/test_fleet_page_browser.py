"""The fleet page in Debian's headless Chromium (Playwright, never a browser download), served from 127.0.0.1:
rendered from a simulated hub through the real code path, it shows one row per device, keeps its
Content-Security-Policy (no console error), links the dashboard's pages, and on a phone-sized screen scrolls its
table inside the page instead of widening it."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from factory.rollout.inventory import fleet_inventory
from function_app import pages
from function_app.pages.html import Links

from .test_fleet_pages import DEVICES, MODEL, SPEC, hub

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"  # as tests/e2e/test_browser.py launches it
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture
def served():
    """The fleet page at ``http://127.0.0.1:<port>/api/dashboard/fleet`` (with its headers), nothing else."""
    resp = pages.fleet_page(fleet_inventory(hub(), {MODEL: SPEC}), Links())

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            found = self.path == "/api/dashboard/fleet"
            self.send_response(200 if found else 404)
            for name, value in resp.headers.items() if found else []:
                self.send_header(name, value)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(resp.get_body() if found else b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/dashboard/fleet"
    server.shutdown()
    server.server_close()


def test_the_fleet_page_renders_in_chromium_under_its_csp_and_scrolls_its_table_on_a_phone(served):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium (scripts/install-system-deps.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for width in (1280, 390):
                page = browser.new_page(viewport={"width": width, "height": 800})
                errors: list[str] = []
                page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
                resp = page.goto(served)
                assert resp is not None and resp.status == 200
                assert "default-src 'none'" in resp.headers["content-security-policy"]
                assert page.locator("table.fleet tbody tr").count() == len(DEVICES) + 1
                assert page.locator("nav a").last.get_attribute("href") == "/api/dashboard/fleet"
                assert page.locator("table.fleet td .pass").count() > 0  # the stylesheet's classes are there
                assert page.evaluate("document.documentElement.scrollWidth") <= width  # the table scrolls inside
                assert errors == []  # a blocked style or script would be a console error
                page.close()
        finally:
            browser.close()
