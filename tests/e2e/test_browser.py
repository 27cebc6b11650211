"""The approver's and the team's pages in a real browser (Debian's headless Chromium driven by Playwright; never
a browser download), on the real local stack after real runs: the dashboard lists the runs, the run page has
one timeline bar per stage, the model page one chart point per version, the approval page each gated metric
with production's value and the delta; Approve clicked in the browser promotes, Reject with a reason records
the reason in the lineage. No page breaks its Content-Security-Policy. Screenshots of each page are kept
(``FACTORY_SCREENSHOTS``, default ``<tmp>/screenshots``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from factory.decision import UNAUTHENTICATED
from tests.e2e.conftest import BROKEN_MODEL
from tests.e2e.helpers import STAGES_WITHOUT_ROLLOUT, model_versions, prod_registry, registry_digest, sample

pytestmark = pytest.mark.slow
MODEL = "wine_card"  # a copy of wine_cultivar of this test's own, so the version count is this test's
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
REASON = "proline <b>drift</b> & too few rows"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium (scripts/install-system-deps.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("FACTORY_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Tab:
    """A page that records every console error (a CSP violation is one) and screenshots on demand."""

    def __init__(self, browser, shots: Path, width: int = 1280, height: int = 900) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.shots = shots

    def open(self, url: str):
        resp = self.page.goto(url)
        assert resp is not None and resp.status == 200, (url, resp and resp.status)
        assert "default-src 'none'" in resp.headers["content-security-policy"]
        return resp

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)


def _notified_links(stack, run_id: str, timeout: float = 900) -> dict[str, str]:
    """The links of the local notification (the webhook body the Azure notifier would send)."""
    path = stack.state_dir / "approvals" / f"{run_id}.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file():
            return json.loads(path.read_text())["links"]
        time.sleep(0.5)
    raise TimeoutError(f"run {run_id} sent no approval notification within {timeout} s")


def _metric_cells(tab: Tab) -> dict[str, list[str]]:
    rows = tab.page.locator("table.metrics tbody tr")
    out = {}
    for i in range(rows.count()):
        cells = [c.strip() for c in rows.nth(i).locator("td").all_inner_texts()]
        out[cells[0].split()[0]] = cells
    return out


@pytest.mark.timeout(1800)  # two runs of one model end to end and a browser; 824 s beside a `make run` (pyproject: 900)
def test_an_approver_decides_from_the_model_card_and_the_dashboard_shows_runs_versions_and_timelines(
        stack, client, browser, shots):
    tab = Tab(browser, shots)
    key = stack.function_key
    # 1. first version: the card has no production to compare with; Approve in the browser promotes it
    first = stack.upload(MODEL, sample(stack, MODEL), name="first.csv")[2]
    links = _notified_links(stack, first)
    tab.open(links["approve"])
    assert "none (first version)" in tab.page.inner_text("body")
    tab.page.click("button.approve")
    tab.page.wait_for_load_state()
    assert "Decision recorded" in tab.page.inner_text("h1")
    run = client.wait(first, timeout=300)
    assert run["result"] == "Succeeded", run["reason"]
    version1 = run["lineage"]["model_version"]
    assert registry_digest(prod_registry(stack), "models/wine-card", f"v{version1}") == run["lineage"]["image_digest"]

    # 2. second version: every gated metric beside production's value and the delta; reject with a reason
    second = stack.upload(MODEL, sample(stack, MODEL), name="second.csv")[2]
    links = _notified_links(stack, second)
    tab.open(links["approve"])
    tab.shot("approval-card")
    cells = _metric_cells(tab)
    prod_metrics = run["lineage"]["metrics"]
    now = client.run(second)["lineage"]["metrics"]
    for name in ("accuracy", "f1_macro"):  # the gated metrics of wine_cultivar's model.yaml
        row = cells[name]
        assert row[2] == f"{prod_metrics[name]:.4g}", row
        assert row[3] == f"{now[name] - prod_metrics[name]:+.4g}", row
        assert ">= 0.85" in row[4] and row[5] == "pass", row
    assert f"version {version1}" in tab.page.inner_text("body")
    phone = Tab(browser, shots, 390, 844)
    phone.open(links["approve"])
    phone.shot("approval-card-phone")
    assert phone.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    tab.open(f"{stack.base_url}/api/dashboard/approvals?code={key}")
    tab.shot("approvals")
    waiting = tab.page.locator("table.approvals tbody tr").all_inner_texts()
    assert len(waiting) == 1 and second in waiting[0] and " min " in waiting[0], waiting
    # an identity header sent by the client is not an identity: without App Service authentication in front,
    # the decision is recorded as unauthenticated (the forged links and events: tests/e2e/test_factory_run.py)
    tab.page.set_extra_http_headers({"X-MS-CLIENT-PRINCIPAL-NAME": "bob@example.com"})
    tab.open(links["reject"])
    tab.page.fill("textarea[name=reason]", REASON)
    tab.page.click("button.reject")
    tab.page.wait_for_load_state()
    assert "Decision recorded" in tab.page.inner_text("h1")
    rejected = client.wait(second, timeout=300)
    assert rejected["result"] == "Rejected" and rejected["lineage"]["decision_reason"] == REASON
    assert rejected["lineage"]["approver"] == UNAUTHENTICATED
    tab.page.set_extra_http_headers({})

    # 3. the dashboard lists both runs; filters narrow it
    tab.open(f"{stack.base_url}/api/dashboard?code={key}&model={MODEL}")
    tab.shot("dashboard")
    listed = tab.page.locator("table.runs tbody tr td:first-child").all_inner_texts()
    assert set(listed) == {first, second}
    skipped = tab.page.locator("table.broken tbody tr").all_inner_texts()  # the stack's broken folder, its reason
    assert len(skipped) == 1 and BROKEN_MODEL in skipped[0] and "not valid YAML" in skipped[0], skipped
    tab.page.select_option("select[name=result]", "Rejected")
    tab.page.click("form.filters button")
    tab.page.wait_for_load_state()
    assert tab.page.locator("table.runs tbody tr td:first-child").all_inner_texts() == [second]

    # 4. the run page: one timeline bar per stage, the lineage chain with the reason, links that work
    tab.page.click(f"table.runs a:text-is('{second}')")
    tab.page.wait_for_load_state()
    assert tab.page.locator("svg.timeline rect.bar").count() == len(STAGES_WITHOUT_ROLLOUT) - 1  # no promote
    assert REASON in tab.page.inner_text("ol.chain")
    tab.open(f"{stack.base_url}/api/dashboard/runs/{first}?code={key}")
    tab.shot("run")
    assert tab.page.locator("svg.timeline rect.bar").count() == len(STAGES_WITHOUT_ROLLOUT)

    # 5. the model page: one chart point per registered version, production marked
    tab.page.click(f"ol.chain a:has-text('{MODEL} version')")
    tab.page.wait_for_load_state()
    tab.shot("model")
    versions = model_versions(stack, MODEL)
    assert len(versions) == 2
    assert tab.page.locator("svg.trend circle.point").count() == len(versions)
    assert tab.page.locator("svg.trend circle.prodpoint").get_attribute("data-version") == version1

    tab.open(f"{stack.base_url}/api/dashboard/approvals?code={key}")
    assert tab.page.locator("table.approvals tbody tr").count() == 0
    assert not tab.errors + phone.errors, tab.errors + phone.errors  # no CSP violation, no broken resource
