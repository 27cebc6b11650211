"""A used approval link's signature never enters the record the approval endpoint raises (the Durable history
keeps events): only its SHA-256, which the run's own check verifies against the key; a wrong hash is refused."""

import json
import time
import urllib.parse

from contract import ApprovalRequest
from factory.approval import approval_links, sig_digest
from factory.decision import check_decision, decision_event

KEY = "k" * 48
REQUEST = ApprovalRequest(run_id="wine-1", model="wine_cultivar", version="3", digest="sha256:" + "ab" * 32,
                          timeout_s=600, approvers=[])


def _params() -> dict[str, str]:
    link = approval_links("http://app", KEY, "wine-1", "3", REQUEST.digest, int(time.time()) + 600)["approve"]
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(link).query).items()}


def test_the_event_holds_the_signatures_hash_not_the_signature_and_still_decides():
    params = _params()
    event = decision_event(KEY, "wine-1", "approve", params, "alice", "req-1")
    assert params["sig"] not in json.dumps(event) and "sig" not in event["link"]
    assert event["link"]["sig_sha256"] == sig_digest(params["sig"])
    check = check_decision(REQUEST, event, [KEY])
    assert check.accepted and check.decision == "approve"


def test_a_hash_of_anything_else_is_refused():
    event = decision_event(KEY, "wine-1", "approve", _params(), "alice", "req-1")
    for forged in (sig_digest("0" * 64), "0" * 64, "", event["link"]["sig_sha256"].upper()):
        check = check_decision(REQUEST, {**event, "link": {**event["link"], "sig_sha256": forged}}, [KEY])
        assert not check.accepted and "signature is not valid" in check.reason, forged
