"""The dashboard session token: signed (HMAC-SHA256 under a key derived from the approval key), expiring,
compared in constant time; the cookie is HttpOnly, SameSite=Strict and scoped to the dashboard."""

from factory import session

KEY, OTHER = "k" * 48, "o" * 48


def test_a_token_is_valid_until_it_expires_and_only_under_its_key():
    token = session.new_token(KEY, now=1000.0, lifetime_s=60)
    assert session.valid(token, [KEY], now=1059.0)
    assert not session.valid(token, [KEY], now=1060.0)
    assert not session.valid(token, [OTHER], now=1000.0)
    assert session.valid(token, [OTHER, KEY], now=1000.0)  # during a key rotation


def test_altered_or_malformed_tokens_are_refused():
    expiry, nonce, mac = session.new_token(KEY, now=1000.0).split(".")
    altered_mac = mac[:-1] + ("1" if mac.endswith("0") else "0")  # never the same digit again
    for bad in (f"{int(expiry) + 1}.{nonce}.{mac}", f"{expiry}.{nonce}x.{mac}", f"{expiry}.{nonce}.{altered_mac}",
                f"{expiry}.{nonce}", "", None, "a.b.c", "-5.x.y", "1." + "x" * 300 + ".y"):
        assert not session.valid(bad, [KEY], now=1000.0), bad


def test_the_cookie_is_httponly_strict_and_scoped_and_is_read_back():
    header = session.cookie_header("t.n.m", secure=True)
    assert {"HttpOnly", "SameSite=Strict", "Path=/api/dashboard", "Secure", "Max-Age=1800"} <= {
        p.strip() for p in header.split(";")}
    assert "Secure" not in session.cookie_header("t.n.m", secure=False)
    assert session.cookie_value(f"other=1; {session.COOKIE}=t.n.m; x=y") == "t.n.m"
    assert session.cookie_value("other=1") is None and session.cookie_value(None) is None
