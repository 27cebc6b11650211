"""Signed rollout control links: each action verifies, a tampered, foreign or expired link is refused, and an
approval link's signature never works as a control link's."""

from __future__ import annotations

import urllib.parse

import pytest

from factory.approval import LinkError, approval_links, link_params
from factory.rollout.links import control_links, verify_control

KEY, OLD = "k" * 48, "o" * 48
EXP = 2_000_000_000


def params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).items()}


def test_each_action_verifies_with_the_current_or_the_previous_key():
    links = control_links("https://app", KEY, "run-7", EXP)
    assert set(links) == {"pause", "resume", "abort"} and links["abort"].startswith("https://app/api/rollouts/run-7/abort?")
    for action, url in links.items():
        assert verify_control("run-7", action, params(url), [KEY], now=EXP - 1) == action
    assert verify_control("run-7", "pause", params(control_links("https://app", OLD, "run-7", EXP)["pause"]),
                          [KEY, OLD], now=0) == "pause"


@pytest.mark.parametrize(("run", "action", "change", "status"), [
    ("run-8", "abort", {}, 403),  # another run's link
    ("run-7", "resume", {}, 403),  # the abort link used to resume... and the other way round
    ("run-7", "abort", {"exp": str(EXP + 3600)}, 403),  # a later expiry
    ("run-7", "abort", {"sig": "0" * 64}, 403),
    ("run-7", "abort", {"sig": None}, 403),
    ("run-7", "delete", {}, 403),
])
def test_a_tampered_or_foreign_link_is_refused(run, action, change, status):
    given = {**params(control_links("https://app", KEY, "run-7", EXP)["abort"]), **change}
    given = {k: v for k, v in given.items() if v is not None}
    with pytest.raises(LinkError) as refused:
        verify_control(run, action, given, [KEY], now=0)
    assert refused.value.status == status


def test_an_expired_link_is_refused_with_410():
    with pytest.raises(LinkError) as refused:
        verify_control("run-7", "pause", params(control_links("https://app", KEY, "run-7", EXP)["pause"]), [KEY],
                       now=EXP)
    assert refused.value.status == 410


def test_an_approval_links_signature_is_not_a_control_links():
    approve = link_params(approval_links("https://app", KEY, "run-7", "3", "sha256:" + "a" * 64, EXP)["approve"])
    with pytest.raises(LinkError):
        verify_control("run-7", "abort", {"exp": approve["exp"], "sig": approve["sig"]}, [KEY], now=0)
