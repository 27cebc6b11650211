"""The app's pages rendered from fixture lineage records: the model card's facts, the timeline's bars, the trend
chart's points, filters, self-refresh, escaping of hostile strings and the Content-Security-Policy."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

from contract import STAGES, ApprovalState, DataFacts, JobLink, Lineage, RunSummary
from factory.approval import ApprovalClaim
from factory.card import GateRule, build_card
from factory.history import ModelHistory, filter_runs, timeline
from factory.notice import ADAPTIVE_CARD, approval_message
from factory.ports import ModelVersion
from function_app import pages
from function_app.pages.html import CSP, Links

HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text, of a page."""

    def __init__(self, doc: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(doc)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        self.text.append(data)

    def count(self, tag: str, cls: str = "") -> int:
        return sum(1 for t, a in self.tags if t == tag and (not cls or cls in a.get("class", "").split()))


def lineage(**over) -> Lineage:
    base = {
        "model": "wine_cultivar", "model_version": "3", "data_uri": "http://127.0.0.1:1/devstoreaccount1/incoming/w.csv",
        "data": {"blob": "incoming/wine_cultivar/w.csv", "size": 11_234, "sha256": "ab" * 32, "rows": 178,
                 "uploaded_at": "2027-01-15T07:50:00+00:00"},
        "source_commit": "0123456789abcdef", "training_job": "wine_cultivar-job-1",
        "metrics": {"accuracy": 0.97, "f1_macro": 0.965, "log_loss": 0.1},
        "gate": {"passed": True, "reasons": [], "champion": {"version": "2", "metrics": {"accuracy": 0.95,
                                                                                         "f1_macro": 0.97}}},
        "image": "127.0.0.1:5100/models/wine@sha256:" + "cd" * 32, "image_digest": "sha256:" + "cd" * 32,
        "edge": {"status": "pass", "cases": 4, "p50_ms": 2.5, "p95_ms": 4.25, "reason": ""},
        "stage_seconds": {s: float(i + 1) for i, s in enumerate(STAGES)}, "decision": "approve",
        "approver": "alice@example.com", "prod_ref": "127.0.0.1:5200/models/wine:v3@sha256:" + "cd" * 32}
    base.update(over)
    return Lineage.from_dict(base)


RULES = [GateRule("accuracy", True, 0.85, None, None), GateRule("f1_macro", True, 0.85, None, 0.03)]


def run(**over) -> RunSummary:
    r = {"run_id": "wine_cultivar-abc", "runtime_status": "Completed", "created": "2027-01-15T07:50:00+00:00",
         "stage": "done", "result": "Succeeded", "ended_at_stage": "promote", "reason": "", "lineage": lineage()}
    r.update(over)
    return RunSummary.from_dict(r)


def body(resp) -> str:
    return resp.get_body().decode()


def test_card_lists_each_metric_with_production_value_delta_threshold_and_verdict():
    card = build_card("r1", lineage(), task="classification", rules=RULES, key_metric="f1_macro",
                      approval=ApprovalState(expires_at="2027-01-15T09:00:00+00:00"), now=NOW)
    rows = {m.name: m for m in card.metrics}
    assert list(rows) == ["accuracy", "f1_macro", "log_loss"]
    delta = rows["accuracy"].delta
    assert rows["accuracy"].production == 0.95 and delta is not None and abs(delta - 0.02) < 1e-9
    assert rows["accuracy"].passed
    assert rows["f1_macro"].better is False and rows["f1_macro"].passed  # 0.5 % worse, 3 % allowed
    assert rows["log_loss"].gated is False and rows["log_loss"].production is None
    assert card.champion == "version 2" and card.seconds_left == 3600
    doc = Elements(body(pages.confirm(ApprovalClaim("r1", "approve", "3", "sha256:x", 0), "", card)))
    metric_rows = [t for t in doc.tags if t[0] == "tr"]
    assert len(metric_rows) >= 4  # header + 3 metrics
    text = " ".join(doc.text)
    for expected in ("0.97", "0.95", "+0.02", "-0.005", ">= 0.85", "at most 3% worse than production", "version 2",
                     "178", "ab" * 32, "4.2 ms", "1 h 0 min", "0123456789abcdef", "wine_cultivar-job-1"):
        assert expected in text, expected
    assert doc.count("button") == 1 and doc.count("form") == 1 and doc.count("textarea") == 0


def test_a_regression_beyond_the_allowance_fails_that_metric():
    worse = lineage(metrics={"accuracy": 0.96, "f1_macro": 0.90})
    rows = {m.name: m for m in build_card("r", worse, rules=RULES).metrics}
    assert rows["accuracy"].passed and rows["f1_macro"].passed is False


def test_absent_facts_say_not_measured_and_the_reject_page_asks_for_a_reason():
    bare = Lineage(model="m", model_version="1", metrics={"rmse": 2.0})
    card = build_card("r2", bare, rules=[GateRule("rmse", False, None, 6.0, 0.05)])
    page = body(pages.confirm(ApprovalClaim("r2", "reject", "1", "sha256:y", 0), "", card))
    assert page.count("not measured") >= 10
    doc = Elements(page)
    assert doc.count("textarea") == 1 and [a for t, a in doc.tags if t == "textarea"][0]["name"] == "reason"
    assert "none (first version)" in page and "no production value" in page


def test_hostile_strings_are_escaped_everywhere_and_pages_carry_the_csp():
    evil = lineage(model=HOSTILE, model_version=HOSTILE, training_job=HOSTILE, source_commit=HOSTILE,
                   metrics={HOSTILE: 1.0}, data={"blob": HOSTILE, "sha256": HOSTILE, "per_label": {HOSTILE: 3}},
                   edge={"status": "fail", "reason": HOSTILE, "failures": [HOSTILE],
                         "devices": [{"device": HOSTILE, "arch": HOSTILE, "status": "pass", "reason": HOSTILE}]},
                   decision=None, approver=HOSTILE, decision_reason=HOSTILE, image=HOSTILE, rollout_plan=HOSTILE,
                   rollout={"run_id": HOSTILE, "model": HOSTILE, "status": "RolledBack", "version": HOSTILE,
                            "reason": HOSTILE, "rings": [
                       {"ring": HOSTILE, "passed": False, "offline": [HOSTILE], "checks": [
                           {"signal": HOSTILE, "value": 1.0, "bound": 1, "passed": False, "devices": [HOSTILE],
                            "note": HOSTILE}]}]})
    card = build_card(HOSTILE, evil, rules=RULES, job=JobLink(HOSTILE, "javascript:" + HOSTILE))
    links = Links(code=HOSTILE)
    evil_run = run(run_id=HOSTILE, reason=HOSTILE, lineage=evil)
    history = ModelHistory(HOSTILE, HOSTILE, [ModelVersion(HOSTILE, "1", {HOSTILE: 1.0}, {"run_id": HOSTILE})], "1")
    rendered = [pages.confirm(ApprovalClaim(HOSTILE, "reject", HOSTILE, HOSTILE, 0), HOSTILE, card),
                pages.runs_page([evil_run], [HOSTILE], links, HOSTILE, HOSTILE, HOSTILE, {HOSTILE: HOSTILE}),
                pages.run_page(evil_run, card, links, NOW), pages.model_page(history, [evil_run], links),
                pages.approvals_page([pages.Waiting(HOSTILE, HOSTILE, HOSTILE, HOSTILE, 5)], links),
                pages.message(403, HOSTILE, HOSTILE)]
    for resp in rendered:
        page = body(resp)
        assert "<script" not in page and "<img" not in page and HOSTILE not in page
        assert resp.headers["Content-Security-Policy"] == CSP
        assert "script-src" not in CSP and "default-src 'none'" in CSP and "unsafe-inline" not in CSP
        assert not [a for t, a in Elements(page).tags if t == "a" and not a["href"].startswith("/api/dashboard")]
        found = re.search(r"<style>(.*?)</style>", page, re.S)
        assert found is not None
        style = found.group(1)
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in resp.headers["Content-Security-Policy"]
        assert " style=" not in page and "<script" not in page


def test_a_training_job_url_that_is_not_http_is_not_a_link():
    card = build_card("r", lineage(), job=JobLink("job", "javascript:alert(1)"))
    page = body(pages.confirm(ApprovalClaim("r", "approve", "3", "d", 0), "", card))
    assert "javascript:" not in page


def test_run_page_has_one_timeline_bar_per_stage_and_refreshes_only_in_flight():
    done = Elements(body(pages.run_page(run(), None, Links(), NOW)))
    assert done.count("rect", "bar") == len(STAGES) and done.count("rect", "live") == 0
    assert not any(t == "meta" and a.get("http-equiv") == "refresh" for t, a in done.tags)
    seconds = {"validate": 1.0, "train": 20.0, "gate": 0.5}
    flying = run(runtime_status="Running", stage="package", result=None, ended_at_stage=None,
                 created="2027-01-15T07:59:00+00:00", lineage=lineage(stage_seconds=seconds))
    bars = timeline(flying, NOW)
    assert [b.stage for b in bars if b.seconds is not None] == ["validate", "train", "gate", "package"]
    assert bars[3].live and bars[3].seconds is not None and abs(bars[3].seconds - 38.5) < 0.01
    doc = Elements(body(pages.run_page(flying, None, Links(), NOW)))
    assert doc.count("rect", "bar") == 4 and doc.count("rect", "live") == 1
    assert any(t == "meta" and a.get("http-equiv") == "refresh" for t, a in doc.tags)


def test_the_approval_card_says_where_the_version_will_go():
    card = build_card("r", lineage(rollout_plan="fleet tags.site = 'a': canary 10 %, all 100 %"), rules=RULES)
    page = body(pages.confirm(ApprovalClaim("r", "approve", "3", "d", 0), "", card))
    assert "after approval, rolls out to" in page and "fleet tags.site = &#x27;a&#x27;: canary 10 %, all 100 %" in page
    plain = body(pages.confirm(ApprovalClaim("r", "approve", "3", "d", 0), "", build_card("r", lineage(), rules=RULES)))
    assert "rolls out to" not in plain


def test_run_page_shows_each_rollout_rings_signals_with_value_bound_and_devices():
    rollout = {"run_id": "r", "model": "wine_cultivar", "status": "RolledBack", "version": "2",
               "previous_version": "1", "reason": "ring canary: p95",
               "rings": [{"ring": "canary", "passed": False, "targeted": 4, "applied": 3, "offline": ["d4"], "checks": [
                   {"signal": "failed_percent", "value": 0, "bound": 20, "passed": True, "devices": []},
                   {"signal": "p95_regression", "value": 2.0, "bound": 0.5, "passed": False,
                    "devices": ["d1 (amd64)", "d2 (arm64)"], "note": "median over 3 devices"}]}]}
    page = body(pages.run_page(run(lineage=lineage(rollout=rollout)), None, Links(), NOW))
    assert "<h2>Fleet rollout</h2>" in page and "RolledBack: version 2 over 1" in page
    assert page.count("<tr><td>canary (3/4 applied; offline: d4)</td>") == 2
    assert "<td class='fail'>2</td><td>0.5</td><td>d1 (amd64), d2 (arm64)</td>" in page
    assert "Fleet rollout" not in body(pages.run_page(run(), None, Links(), NOW))


def test_model_page_has_one_chart_point_per_version_and_names_production():
    versions = [ModelVersion("wine", str(v), {"f1_macro": 0.9 + v / 100}, {"run_id": f"run-{v}"}) for v in (1, 2, 3)]
    versions.append(ModelVersion("wine", "4", {}, {}))  # no key metric: no point
    h = ModelHistory("wine", "f1_macro", versions, "2", [0.85])
    doc = Elements(body(pages.model_page(h, [], Links(code="k"))))
    assert doc.count("circle", "point") == 3 and doc.count("circle", "prodpoint") == 1
    assert doc.count("line", "limit") == 1
    hrefs = [a["href"] for t, a in doc.tags if t == "a"]
    assert "/api/dashboard/runs/run-1?code=k" in hrefs


def test_runs_page_filters_by_model_result_and_stage_and_shows_waiting_approvals():
    runs = [run(run_id="a"), run(run_id="b", result="Rejected", ended_at_stage="gate",
                                 lineage=lineage(model="nyc_taxi")),
            run(run_id="c", runtime_status="Running", result=None, stage="approval", ended_at_stage=None)]
    assert [r.run_id for r in filter_runs(runs, model="nyc_taxi")] == ["b"]
    assert [r.run_id for r in filter_runs(runs, result="running")] == ["c"]
    assert [r.run_id for r in filter_runs(runs, stage="promote")] == ["a"]
    page = body(pages.runs_page(runs, ["nyc_taxi", "wine_cultivar"], Links(), result="Rejected"))
    assert "1 of 3 runs" in page and "1 approval waiting" in page
    assert "http-equiv='refresh'" in page  # a run is in flight


def test_runs_page_lists_each_broken_model_folder_with_its_reason_and_not_among_the_models(tmp_path):
    from factory.catalog import scan_catalog
    from factory.kit import place_kit_beside

    models = tmp_path / "models"
    place_kit_beside(models)
    (models / "broken").mkdir(parents=True)
    (models / "broken" / "model.yaml").write_text("name: broken\ntask: [unclosed\n")
    good, broken = scan_catalog(models)  # what GET /api/dashboard reads (lookups.scan)
    page = body(pages.runs_page([run(run_id="a")], sorted(good), Links(), broken=broken))
    doc = Elements(page)
    assert "1 model folder skipped" in page and doc.count("table", "broken") == 1
    rows = re.findall(r"<table class='broken'>.*?<tbody>(.*?)</tbody>", page, re.S)[0]
    assert rows.count("<tr>") == 1 and "<td>broken</td>" in rows
    assert f"{models / 'broken' / 'model.yaml'}: not valid YAML" in rows
    assert "value='broken'" not in page  # not offered in the model filter
    assert "skipped" not in body(pages.runs_page([run(run_id="a")], sorted(good), Links(), broken={}))


def test_notification_is_an_adaptive_card_with_the_summary_and_plain_fields():
    card = build_card("r1", lineage(), task="classification", rules=RULES, key_metric="f1_macro",
                      approval=ApprovalState(expires_at="2027-01-15T09:00:00+00:00"), now=NOW)
    links = {"approve": "https://app/api/approvals/r1/approve?sig=1", "reject": "https://app/api/approvals/r1/reject"}
    msg = approval_message(card, links)
    assert msg["type"] == "message" and msg["run_id"] == "r1" and msg["links"] == links
    [attachment] = msg["attachments"]
    content = attachment["content"]
    assert attachment["contentType"] == ADAPTIVE_CARD and content["type"] == "AdaptiveCard"
    assert content["version"] == "1.4"
    assert [a["url"] for a in content["actions"]] == [links["approve"], links["reject"]]
    facts = {f["title"]: f["value"] for f in next(b for b in content["body"] if b["type"] == "FactSet")["facts"]}
    assert "production 0.97, -0.005" in facts["f1_macro"] and "pass" in facts["f1_macro"]
    assert facts["Champion"] == "version 2" and "p95 4.25 ms" in facts["Edge"]
    assert "f1_macro" in msg["text"] and msg["card"]["metrics"][0]["name"] == "accuracy"


def test_edge_rows_per_device_and_update_size_per_architecture_as_the_lineage_holds_them():
    lin = lineage(update_bytes={"arm64": 2_100_000, "amd64": 1_900_000},
                  update_from="127.0.0.1:5200/models/wine:v2",
                  edge={"status": "pass", "bytes_pulled": 1_900_000, "devices": [
                      {"device": "edge-amd64", "arch": "amd64", "status": "pass", "p50_ms": 2.0, "p95_ms": 3.0,
                       "cases": 4, "requests": 20, "bytes_pulled": 1_900_000},
                      {"device": "edge-arm64", "arch": "arm64", "status": "fail", "p50_ms": 20.0, "p95_ms": 31.0,
                       "cases": 4, "requests": 20, "bytes_pulled": 2_100_000, "reason": "p95 over budget"}]})
    card = build_card("r", lin, rules=RULES)
    assert [(e.device, e.arch, e.requests) for e in card.edge] == [("edge-amd64", "amd64", 20),
                                                                 ("edge-arm64", "arm64", 20)]
    doc = Elements(body(pages.confirm(ApprovalClaim("r", "approve", "3", "d", 0), "", card)))
    text = " ".join(doc.text)
    assert doc.count("tr") >= 3 + 3  # metrics + edge rows (2 devices + header)
    for expected in ("edge-arm64", "arm64", "31.0 ms", "2.1 MB", "p95 over budget", "amd64: ", "1.9 MB",
                     "127.0.0.1:5200/models/wine:v2"):
        assert expected in text, expected
    msg = approval_message(card, {"approve": "a", "reject": "r"})
    assert "amd64 1.9 MB, arm64 2.1 MB" in msg["text"]


def test_data_facts_of_an_upload_count_rows_and_take_the_validated_hash(tmp_path):
    from factory.pinning import FetchedData, sha256_of
    from factory.steps import data_facts

    csv = tmp_path / "up.csv"
    csv.write_text('a,b\n1,"two\nlines"\n\n3,4\n')
    data = FetchedData(csv, "incoming/m/up.csv", "http://x/incoming/m/up.csv", "0x1", "", csv.stat().st_size,
                       sha256_of(csv), "2027-01-01T00:00:00+00:00")
    facts = data_facts(data)
    assert facts == DataFacts(blob="incoming/m/up.csv", size=csv.stat().st_size,
                              sha256=hashlib.sha256(csv.read_bytes()).hexdigest(),
                              uploaded_at="2027-01-01T00:00:00+00:00", rows=2)
    assert data_facts(data, table=False).rows is None


SIGNATURE = {"key_id": "sha256:" + "ee" * 32, "signed_as": "127.0.0.1:5100/models/wine",
             "signature_ref": "127.0.0.1:5100/models/wine:sha256-" + "cd" * 32 + ".sig",
             "attestation_ref": "127.0.0.1:5100/models/wine:sha256-" + "cd" * 32 + ".att",
             "attestations": [{"predicate_type": "https://slsa.dev/provenance/v1",
                               "envelope_digest": "sha256:" + "01" * 32},
                              {"predicate_type": "https://model-factory.dev/attestations/approval/v1",
                               "envelope_digest": "sha256:" + "02" * 32}],
             "model_digest": "sha256:" + "03" * 32}


def test_the_approval_card_and_the_run_page_show_the_signature_key_and_each_attestation():
    card = build_card("r", lineage(signature=SIGNATURE), rules=RULES)
    for page in (body(pages.confirm(ApprovalClaim("r", "approve", "3", "d", 0), "", card)),
                 body(pages.run_page(run(lineage=lineage(signature=SIGNATURE)), card, Links(), NOW))):
        doc = Elements(page)
        assert "Signature and attestations" in page and f"<code>{SIGNATURE['key_id']}</code>" in page
        assert SIGNATURE["signature_ref"] in page and SIGNATURE["attestation_ref"] in page
        assert doc.count("table", "attestations") == 1
        assert "SLSA provenance" in page and "approval" in page
        assert all(a["envelope_digest"] in page for a in SIGNATURE["attestations"])
        assert SIGNATURE["model_digest"] in page
        assert f"model-factory verify 127.0.0.1:5100/models/wine@sha256:{'cd' * 32}" in page
    unsigned = body(pages.confirm(ApprovalClaim("r", "approve", "3", "d", 0), "", build_card("r", lineage())))
    assert "<span class='fail'>not signed</span>" in unsigned


def test_an_attestation_signed_later_replaces_its_earlier_reference_in_the_facts():
    from contract import AttestationRef, SignatureFacts

    facts = SignatureFacts.from_dict(SIGNATURE)
    later = facts.with_attestation(AttestationRef("https://model-factory.dev/attestations/approval/v1", "sha256:new"))
    assert [a.envelope_digest for a in later.attestations] == ["sha256:" + "01" * 32, "sha256:new"]
    assert len(facts.attestations) == 2  # unchanged: records are frozen
