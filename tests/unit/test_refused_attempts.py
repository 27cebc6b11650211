"""Who tried a refused decision: the approver the endpoint attested, else the name the event claims, kept as
a claim, printable and bounded; the model card says which."""

import time
import urllib.parse

from contract import ApprovalRequest, ApprovalState, Lineage
from factory.approval import approval_links
from factory.card import _decisions
from factory.decision import MAX_NAME, check_decision, decision_event

KEY = "k" * 48
REQUEST = ApprovalRequest(run_id="wine-1", model="wine_cultivar", version="3", digest="sha256:" + "ab" * 32,
                          timeout_s=600, approvers=["alice@example.com"])


def _event(approver: str) -> dict:
    link = approval_links("http://app", KEY, "wine-1", "3", REQUEST.digest, int(time.time()) + 600)["approve"]
    params = {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(link).query).items()}
    return decision_event(KEY, "wine-1", "approve", params, approver, "req-1")


def test_an_attested_approver_who_is_not_listed_is_recorded_as_attested():
    check = check_decision(REQUEST, _event("bob@example.com"), [KEY])
    assert not check.accepted and check.reason == "bob@example.com is not one of the model's approvers"
    assert (check.approver, check.attested, check.decision) == ("bob@example.com", True, "approve")


def test_a_forged_name_is_recorded_as_a_claim_printable_and_bounded():
    forged = {**_event("alice@example.com"), "attestation": "0" * 64,
              "approver": "alice@example.com\x1b[2J\n" + "x" * 500, "request_id": "r\x00" * 100}
    check = check_decision(REQUEST, forged, [KEY])
    assert not check.accepted and check.attested is False
    assert check.approver.startswith("alice@example.com[2J") and len(check.approver) == MAX_NAME
    assert "\x1b" not in check.approver and "\n" not in check.approver and len(check.request_id) == 64


def test_events_of_any_shape_record_no_name():
    for event in (None, "approve", [], {"approver": ["x"], "decision": {"a": 1}}):
        check = check_decision(REQUEST, event, [KEY])
        assert (check.accepted, check.approver, check.attested, check.decision) == (False, "", False, "")


def test_the_card_says_whether_who_tried_was_verified():
    rows = _decisions(Lineage.from_dict({"approval_refused": [
        {"at": "t1", "reason": "not attested", "approver": "mallory", "attested": False, "decision": "approve"},
        {"at": "t2", "reason": "not listed", "approver": "bob@example.com", "attested": True, "decision": "reject"},
        {"at": "t3", "reason": "not an object"}]}), ApprovalState())
    assert [(r.who, r.decision) for r in rows] == [
        ("mallory (claimed, not verified)", "refused approve"), ("bob@example.com", "refused reject"),
        ("unknown", "refused")]
