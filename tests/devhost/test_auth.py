"""devhost guards its webhooks as the host does: the Durable management API takes the `durabletask_extension`
system key (or the master key), the Event Grid webhook and the local topic the `eventgrid_extension` key (or the
master key); the in-process Durable client's RPC path needs its own secret. No key, a wrong key or a function key
→ 401 on every route, and loopback is no exception."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from devhost_testkit import DURABLE, DURABLE_KEY, EVENTGRID_KEY, FUNCTION_KEY, MASTER_KEY, Client

from devhost.server import DevHost

# (method, path template, body): every route of the Durable HTTP API; {id} is a finished instance
DURABLE_ROUTES = [
    ("POST", "/orchestrators/chain", "1"),
    ("POST", "/orchestrators/chain/auth-{uniq}", "1"),
    ("GET", "/instances", None),
    ("GET", "/instances/{id}", None),
    ("POST", "/instances/{id}/raiseEvent/approval", "{}"),
    ("POST", "/instances/{id}/terminate", None),
    ("POST", "/instances/{id}/suspend", None),
    ("POST", "/instances/{id}/resume", None),
    ("POST", "/instances/{id}/restart", None),
    ("POST", "/instances/{id}/rewind", None),
    ("DELETE", "/instances/{id}", None),
    ("DELETE", "/instances?createdTimeFrom=2000-01-01T00:00:00Z&runtimeStatus=Terminated", None),
]


@pytest.fixture
def finished(session_host: DevHost, out_dir) -> str:
    client = Client(session_host.base_url, out_dir)
    iid = client.start("chain", 1)
    client.wait(iid)
    return iid


def _call(base: str, method: str, path: str, body: str | None, **kw: object) -> requests.Response:
    return requests.request(method, base + DURABLE + path, data=body, timeout=10, **kw)


@pytest.mark.parametrize(("method", "template", "body"), DURABLE_ROUTES, ids=[f"{m} {t}" for m, t, _ in DURABLE_ROUTES])
def test_durable_route_needs_the_system_key(session_host: DevHost, finished: str, method: str, template: str,
                                            body: str | None) -> None:
    path = template.format(id=finished, uniq=uuid.uuid4().hex[:8])
    base = session_host.base_url
    assert _call(base, method, path, body).status_code == 401  # no key, from loopback
    for wrong in ("wrong", FUNCTION_KEY, EVENTGRID_KEY):
        assert _call(base, method, path, body, params={"code": wrong}).status_code == 401, wrong
    assert _call(base, method, f"/rpc/{'x' * 43}{path}", body).status_code == 401  # a guessed RPC secret
    for key in (DURABLE_KEY, MASTER_KEY):
        resp = _call(base, method, path, body, headers={"x-functions-key": key})
        assert resp.status_code != 401, (key, resp.status_code, resp.text)
        assert resp.status_code < 500 or resp.status_code == 501, resp.text  # 501: rewind is not supported


def test_management_urls_carry_the_system_key_as_code(session_host: DevHost) -> None:
    resp = requests.post(f"{session_host.base_url}/api/orchestrators/chain", data="1", timeout=10)
    assert resp.status_code == 202
    for name, url in resp.json().items():
        if name != "id":
            assert f"code={DURABLE_KEY}" in url, (name, url)
    assert requests.get(resp.headers["Location"], timeout=10).status_code in (200, 202)


def test_the_client_rpc_path_takes_only_this_start_s_secret(session_host: DevHost, finished: str) -> None:
    binding = json.loads(session_host.durable_client_json())
    rpc = binding["rpcBaseUrl"]
    assert session_host.rpc_token in rpc and binding["requiredQueryStringParameters"] == f"code={DURABLE_KEY}"
    assert requests.get(f"{rpc}instances/{finished}", timeout=10).status_code == 200
    token = session_host.rpc_token
    wrong = rpc.replace(token, token[:-1] + ("B" if token.endswith("A") else "A"))  # always a different token
    assert requests.get(f"{wrong}instances/{finished}", timeout=10).status_code == 401
    stored = b"".join(p.read_bytes() for p in session_host.state_dir.rglob("*") if p.is_file())
    assert session_host.rpc_token.encode() not in stored  # kept in memory only


def _event() -> list[dict]:
    return [{"id": uuid.uuid4().hex, "eventType": "Custom.Auth", "subject": "s", "data": {},
             "dataVersion": "1", "eventTime": "2026-11-26T07:00:00Z"}]


@pytest.mark.parametrize("path", ["/runtime/webhooks/eventgrid?functionName=on_run_status",
                                  "/runtime/eventgrid/topic"])
def test_event_grid_routes_need_the_eventgrid_key(session_host: DevHost, path: str) -> None:
    url = session_host.base_url + path
    assert requests.post(url, json=_event(), timeout=10).status_code == 401
    for wrong in ("wrong", FUNCTION_KEY, DURABLE_KEY):
        assert requests.post(url, json=_event(), headers={"x-functions-key": wrong}, timeout=10).status_code == 401
        assert requests.post(url, json=_event(), headers={"aeg-sas-key": wrong}, timeout=10).status_code == 401
    assert requests.post(url, json=_event(), params={"code": EVENTGRID_KEY}, timeout=10).status_code in (200, 202)
    assert requests.post(url, json=_event(), headers={"aeg-sas-key": EVENTGRID_KEY},
                         timeout=10).status_code in (200, 202)
    assert requests.post(url, json=_event(), headers={"x-functions-key": MASTER_KEY},
                         timeout=10).status_code in (200, 202)


def test_unknown_webhook_function_is_not_revealed_without_a_key(session_host: DevHost) -> None:
    url = f"{session_host.base_url}/runtime/webhooks/eventgrid?functionName=nope"
    assert requests.post(url, json=_event(), timeout=10).status_code == 401
    assert requests.post(url, json=_event(), params={"code": EVENTGRID_KEY}, timeout=10).status_code == 404
