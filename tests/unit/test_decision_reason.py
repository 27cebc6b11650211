"""A reject's reason travels attested with the approver: the run takes it from a verified decision only, cleaned
and bounded, and a reason altered after the endpoint attested it refuses the decision."""

import time
import urllib.parse

from contract import ApprovalRequest
from factory.approval import approval_links
from factory.decision import check_decision, decision_event

KEY = "k" * 48
REQUEST = ApprovalRequest(run_id="wine-1", model="wine_cultivar", version="3", digest="sha256:" + "ab" * 32,
                          timeout_s=600, approvers=[])


def _event(reason: str) -> dict:
    link = approval_links("http://app", KEY, "wine-1", "3", REQUEST.digest, int(time.time()) + 600)["reject"]
    params = {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(link).query).items()}
    return decision_event(KEY, "wine-1", "reject", params, "bob@example.com", "req-1", reason)


def test_the_attested_reason_is_accepted_cleaned():
    check = check_decision(REQUEST, _event("drift\x07 in proline " + "x" * 600), [KEY])
    assert check.accepted and check.decision == "reject"
    assert check.decision_reason.startswith("drift  in proline x") and len(check.decision_reason) == 500


def test_a_reason_changed_after_attestation_refuses_the_decision():
    event = _event("too few rows")
    event["decision_reason"] = "approved by the board"
    check = check_decision(REQUEST, event, [KEY])
    assert not check.accepted and "not attested" in check.reason
    event["decision_reason"] = ["not", "text"]
    assert not check_decision(REQUEST, event, [KEY]).accepted
