"""HTTP triggers: routes, parameters, responses as returned, auth levels, settings in the environment."""

from __future__ import annotations

import requests
from devhost_testkit import FUNCTION_KEY, MASTER_KEY, Client


def test_route_params_query_and_response_returned_as_is(dh1: Client) -> None:
    resp = requests.get(f"{dh1.base}/api/hello/ada/7?q=x")
    assert resp.status_code == 200
    assert resp.headers["X-Devhost-Test"] == "yes"
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["name"] == "ada" and body["count"] == "7" and body["q"] == "x"
    assert body["setting"] == "from-local-settings"
    assert body["hostname"].startswith("127.0.0.1:")


def test_optional_and_typed_route_params(dh1: Client) -> None:
    assert requests.get(f"{dh1.base}/api/hello/ada").json()["count"] is None
    assert requests.get(f"{dh1.base}/api/hello/ada/notanint").status_code == 404


def test_method_not_in_route_methods_is_refused(dh1: Client) -> None:
    assert requests.post(f"{dh1.base}/api/hello/ada").status_code == 405
    assert requests.get(f"{dh1.base}/api/no/such/route").status_code == 404


def test_function_level_auth(dh1: Client) -> None:
    url = f"{dh1.base}/api/echo"
    assert requests.post(url, data=b"x").status_code == 401
    assert requests.post(url, data=b"x", params={"code": "wrong"}).status_code == 401
    ok = requests.post(url, data=b"payload", params={"code": FUNCTION_KEY})
    assert ok.status_code == 201 and ok.text == "payload"  # async function, status and body as returned
    assert requests.post(url, data=b"x", headers={"x-functions-key": FUNCTION_KEY}).status_code == 201
    assert requests.post(url, data=b"x", params={"code": MASTER_KEY}).status_code == 201


def test_admin_level_auth_takes_only_the_master_key(dh1: Client) -> None:
    url = f"{dh1.base}/api/admin-only"
    assert requests.get(url).status_code == 401
    assert requests.get(url, params={"code": FUNCTION_KEY}).status_code == 401
    resp = requests.get(url, headers={"x-functions-key": MASTER_KEY})
    assert resp.status_code == 200 and resp.text == "admin ok"


def test_host_status_lists_indexed_functions(dh1: Client) -> None:
    body = requests.get(f"{dh1.base}/admin/host/status", headers={"x-functions-key": MASTER_KEY}).json()
    assert body["state"] == "Running"
    assert {"hello", "chain", "noop", "on_blob_created"} <= set(body["functions"])
