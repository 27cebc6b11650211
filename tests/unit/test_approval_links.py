"""Signed approval links: HMAC with expiry, constant-time comparison, key rotation."""

import urllib.parse

import pytest

from factory.approval import ApprovalClaim, LinkError, approval_links, check_key, verify_link

KEY = "k" * 40
OLD_KEY = "o" * 40
NOW = 1_800_000_000


def _params(url: str) -> tuple[str, str, dict[str, str]]:
    parsed = urllib.parse.urlparse(url)
    *_, run_id, decision = parsed.path.split("/")
    return urllib.parse.unquote(run_id), decision, dict(urllib.parse.parse_qsl(parsed.query))


def _links(expires_at: int = NOW + 3600, key: str = KEY) -> dict[str, str]:
    return approval_links("http://127.0.0.1:7071", key, "nyc_taxi-abc", "3", "sha256:aa", expires_at)


def test_valid_link_verifies_to_its_claim():
    run_id, decision, params = _params(_links()["approve"])
    claim = verify_link(run_id, decision, params, [KEY], now=NOW)
    assert claim == ApprovalClaim("nyc_taxi-abc", "approve", "3", "sha256:aa", NOW + 3600)


@pytest.mark.parametrize("field,value", [("v", "4"), ("d", "sha256:bb"), ("exp", str(NOW + 99999)), ("sig", "0" * 64)])
def test_tampered_link_is_refused_with_403(field, value):
    run_id, decision, params = _params(_links()["approve"])
    params[field] = value
    with pytest.raises(LinkError) as err:
        verify_link(run_id, decision, params, [KEY], now=NOW)
    assert err.value.status == 403


def test_reject_link_cannot_be_turned_into_an_approval():
    run_id, _, params = _params(_links()["reject"])
    with pytest.raises(LinkError) as err:
        verify_link(run_id, "approve", params, [KEY], now=NOW)
    assert err.value.status == 403


def test_link_for_another_run_is_refused():
    _, decision, params = _params(_links()["approve"])
    with pytest.raises(LinkError) as err:
        verify_link("nyc_taxi-other", decision, params, [KEY], now=NOW)
    assert err.value.status == 403


def test_expired_link_is_gone_410():
    run_id, decision, params = _params(_links(expires_at=NOW - 1)["approve"])
    with pytest.raises(LinkError) as err:
        verify_link(run_id, decision, params, [KEY], now=NOW)
    assert err.value.status == 410


def test_previous_key_still_accepted_during_rotation_and_unknown_key_refused():
    run_id, decision, params = _params(_links(key=OLD_KEY)["approve"])
    assert verify_link(run_id, decision, params, [KEY, OLD_KEY], now=NOW).decision == "approve"
    with pytest.raises(LinkError):
        verify_link(run_id, decision, params, [KEY], now=NOW)


def test_malformed_link_is_refused():
    with pytest.raises(LinkError) as err:
        verify_link("r", "approve", {"v": "1"}, [KEY], now=NOW)
    assert err.value.status == 403


@pytest.mark.parametrize("key,message", [("", "not set"), ("short", "at least"),
                                         ("@Microsoft.KeyVault(SecretUri=https://x/secrets/y)", "Key Vault")])
def test_unusable_signing_keys_are_refused(key, message):
    with pytest.raises(ValueError, match=message):
        check_key(key)
