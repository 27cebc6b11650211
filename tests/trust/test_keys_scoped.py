"""Each key opens only what its holder needs, on the real app (devhost) and Azurite: the run API's reply holds
no Durable management URL or system key, a reused Idempotency-Key is checked against its first request, JSON
endpoints take JSON only, devhost's admin API takes the master key, and the dashboard's links carry no key
(a signed, short-lived, HttpOnly SameSite=Strict session cookie instead)."""

from __future__ import annotations

import time

import requests

from factory import session
from tests.trust.conftest import csv_file
from tests.trust.test_data_source import HEADER_ONLY, _client, _store


def _upload(stack, name: str, model: str = "wine_cultivar") -> str:
    _store(stack).upload("incoming", f"{model}/{name}", csv_file(stack.state_dir, HEADER_ONLY, name))
    return f"{model}/{name}"


def _system_key(stack) -> str:
    return (stack.state_dir / "devhost" / "durabletask_extension.key").read_text().strip()


def test_post_runs_answers_with_the_projects_status_url_and_no_durable_key(app_stack):
    data = _upload(app_stack, "keys-a.csv")
    resp = requests.post(f"{app_stack.base_url}/api/runs", json={"model": "wine_cultivar", "data": data},
                         headers={"x-functions-key": app_stack.function_key}, timeout=30)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert set(body) == {"id", "statusQueryGetUri"}
    assert body["statusQueryGetUri"] == f"{app_stack.base_url}/api/runs/{body['id']}" == resp.headers["Location"]
    assert _system_key(app_stack) not in resp.text and "runtime/webhooks" not in resp.text
    status = requests.get(body["statusQueryGetUri"], headers={"x-functions-key": app_stack.function_key}, timeout=30)
    assert status.status_code == 200 and status.json()["run_id"] == body["id"]


def test_a_reused_idempotency_key_with_another_body_gets_422_naming_the_first_run(app_stack):
    client = _client(app_stack)
    first_data, other_data = _upload(app_stack, "keys-b.csv"), _upload(app_stack, "keys-c.csv")
    taxi_data = _upload(app_stack, "keys-d.csv", "nyc_taxi")
    key = f"reuse-{time.monotonic_ns()}"
    status, first = client.start_run("wine_cultivar", first_data, idempotency_key=key)
    assert status == 202, first
    again = client.start_run("wine_cultivar", first_data, idempotency_key=key)
    assert again == (202, first)  # the same request: the same run, as before
    for model, data, commit in (("wine_cultivar", other_data, None), ("nyc_taxi", taxi_data, None),
                                ("wine_cultivar", first_data, "abcdef1")):
        status, body = client.start_run(model, data, idempotency_key=key, source_commit=commit)
        assert status == 422, (model, data, commit, body)
        assert first["id"] in body["error"] and "Idempotency-Key" in body["error"]
    assert len([r for r in client.runs() if r["run_id"] == first["id"]]) == 1
    assert not [r for r in client.runs() if key in r["run_id"] or r["run_id"].startswith("nyc_taxi-m")]


def test_post_runs_without_a_content_type_is_refused_415(app_stack):
    resp = requests.post(f"{app_stack.base_url}/api/runs", data=b'{"model": "wine_cultivar", "data": "x"}',
                         headers={"x-functions-key": app_stack.function_key}, timeout=30)
    assert "content-type" not in {k.lower() for k in resp.request.headers}
    assert resp.status_code == 415 and "Content-Type" in resp.json()["error"]


def test_devhosts_admin_routes_take_only_the_master_key(app_stack):
    url = f"{app_stack.base_url}/admin/host/status"
    master = app_stack.function_key  # the CLI's key locally is devhost's master key
    for headers in ({}, {"x-functions-key": "not-the-master-key"}, {"x-functions-key": _system_key(app_stack)}):
        assert requests.get(url, headers=headers, timeout=30).status_code == 401, headers
    assert requests.get(f"{app_stack.base_url}/admin/functions", timeout=30).status_code == 401
    status = requests.get(url, headers={"x-functions-key": master}, timeout=30)
    assert status.status_code == 200 and status.json()["pid"] == app_stack.pid("devhost")
    assert requests.get(f"{app_stack.base_url}/admin/host/ping", timeout=30).status_code == 200  # liveness only


def test_the_dashboard_opens_from_a_key_once_then_keeps_a_signed_session_and_no_link_has_the_key(app_stack):
    base, key = app_stack.base_url, app_stack.function_key
    browser = requests.Session()
    assert browser.get(f"{base}/api/dashboard", timeout=30).status_code == 401  # no session, no key
    assert browser.get(f"{base}/api/dashboard/open?code=wrong", timeout=30).status_code == 401
    opened = browser.get(f"{base}/api/dashboard/approvals?code={key}", timeout=30, allow_redirects=False)
    assert opened.status_code == 303 and opened.headers["Location"].startswith("/api/dashboard/open?")
    door = browser.get(base + opened.headers["Location"], timeout=30, allow_redirects=False)
    assert door.status_code == 303 and door.headers["Location"] == "/api/dashboard/approvals"
    cookie = door.headers["Set-Cookie"]
    assert all(part in cookie for part in ("HttpOnly", "SameSite=Strict", "Path=/api/dashboard", "Max-Age=1800"))
    for path in ("/api/dashboard", "/api/dashboard/approvals", "/api/dashboard/models/wine_cultivar"):
        page = browser.get(base + path, timeout=30, allow_redirects=False)
        assert page.status_code == 200, (path, page.status_code)
        assert key not in page.text and "code=" not in page.text
    # a forged, altered or expired token opens nothing
    token = browser.cookies.get(session.COOKIE)
    expiry, nonce, mac = token.split(".")
    for forged in (f"{int(expiry) + 3600}.{nonce}.{mac}", f"{expiry}.{nonce}.{'0' * 64}", "x", "",
                   session.new_token("k" * 48), session.new_token(_signing_key(app_stack), lifetime_s=-1)):
        resp = requests.get(f"{base}/api/dashboard", cookies={session.COOKIE: forged}, timeout=30)
        assert resp.status_code == 401, forged
    assert requests.get(f"{base}/api/dashboard", cookies={session.COOKIE: session.new_token(
        _signing_key(app_stack))}, timeout=30).status_code == 200


def test_the_dashboard_door_sends_nowhere_but_the_dashboard(app_stack):
    for target in ("https://evil.example/", "//evil.example/api/dashboard", "/api/runs", "/api/dashboardx",
                   "javascript:alert(1)"):
        door = requests.get(f"{app_stack.base_url}/api/dashboard/open", params={"code": app_stack.function_key,
                                                                               "next": target},
                            timeout=30, allow_redirects=False)
        assert door.status_code == 303 and door.headers["Location"] == "/api/dashboard", target


def _signing_key(stack) -> str:
    return stack.settings_env()["APPROVAL_SIGNING_KEY"]


def test_the_clis_dashboard_link_carries_no_host_key_and_opens_a_session_until_it_expires(app_stack):
    from cli.commands.dashboard import dashboard_url

    url = dashboard_url(app_stack, "/approvals")
    assert app_stack.function_key not in url and "code=" not in url
    browser = requests.Session()
    entered = browser.get(url, timeout=30, allow_redirects=False)
    assert entered.status_code == 303 and entered.headers["Location"] == "/api/dashboard/approvals"
    assert "HttpOnly" in entered.headers["Set-Cookie"] and "SameSite=Strict" in entered.headers["Set-Cookie"]
    assert browser.get(f"{app_stack.base_url}/api/dashboard", timeout=30).status_code == 200
    key = _signing_key(app_stack)
    for token in (session.new_token(key, lifetime_s=-1), session.new_token("k" * 48), "1.2.3"):
        resp = requests.get(f"{app_stack.base_url}/api/dashboard/enter", params={"t": token}, timeout=30,
                            allow_redirects=False)
        assert resp.status_code == 401 and "Set-Cookie" not in resp.headers, token
