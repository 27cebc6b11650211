"""An app in the published Durable Functions Python samples' shapes (tests/devhost/conformance_app: app object
`myApp`, a blueprint, `create_check_status_response`), started with `python -m devhost --app-dir ...` and driven
through HTTP as the samples' READMEs drive theirs: POST the starter, follow `statusQueryGetUri` (or `Location`)
until 200, raise events through `sendEventPostUri`."""

from __future__ import annotations

import time

import requests

from devhost.server import LaunchedHost


def _start(host: LaunchedHost, orchestrator: str, body: object = None) -> requests.Response:
    resp = requests.post(f"{host.base_url}/api/orchestrators/{orchestrator}", json=body, timeout=10)
    assert resp.status_code == 202, resp.text
    return resp


def _follow(url: str, timeout: float = 30) -> dict:
    """Poll a status URL as a README's curl loop does: 202 while running, then 200 with the final status."""
    deadline = time.monotonic() + timeout
    while True:
        resp = requests.get(url, timeout=10)
        if resp.status_code == 200:
            return resp.json()
        assert resp.status_code == 202, (resp.status_code, resp.text)
        assert resp.headers["Location"] and int(resp.headers["Retry-After"]) > 0
        assert time.monotonic() < deadline, f"still {resp.json()['runtimeStatus']} after {timeout} s"
        time.sleep(0.05)


def test_the_app_object_is_found_whatever_its_name_and_the_file_is_named(conformance: LaunchedHost) -> None:
    status = requests.get(f"{conformance.base_url}/admin/host/status", timeout=10,
                          headers={"x-functions-key": conformance.keys.master_key}).json()
    assert status["app"].endswith("tests/devhost/conformance_app/function_app.py")
    assert {"http_start", "hello_sequence", "say_hello", "fan_out_fan_in", "monitor"} <= set(status["functions"])
    assert "model_factory_run" not in status["functions"]  # not the repo's own function_app
    assert "ConformanceHub" in _start(conformance, "hello_sequence").json()["statusQueryGetUri"]  # %CONFORMANCE_HUB%


def test_function_chaining_through_the_check_status_response(conformance: LaunchedHost) -> None:
    resp = _start(conformance, "hello_sequence")
    payload = resp.json()
    assert set(payload) == {"id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "rewindPostUri",
                            "purgeHistoryDeleteUri", "restartPostUri", "suspendPostUri", "resumePostUri"}
    assert resp.headers["Location"] == payload["statusQueryGetUri"]
    final = _follow(resp.headers["Location"])
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    assert final["name"] == "hello_sequence" and final["instanceId"] == payload["id"]


def test_fan_out_fan_in(conformance: LaunchedHost) -> None:
    final = _follow(_start(conformance, "fan_out_fan_in", 12).json()["statusQueryGetUri"])
    assert final["output"] == sum(i * i for i in range(1, 13))
    history = requests.get(_start_done(conformance, "fan_out_fan_in", 4) + "&showHistory=true&showHistoryOutput=true",
                           timeout=10).json()["historyEvents"]
    squares = [e for e in history if e.get("FunctionName") == "square"]
    assert sorted(e["Result"] for e in squares) == [1, 4, 9, 16]


def _start_done(host: LaunchedHost, orchestrator: str, body: object) -> str:
    url = _start(host, orchestrator, body).json()["statusQueryGetUri"]
    _follow(url)
    return url


def test_human_interaction_approved_through_send_event_post_uri(conformance: LaunchedHost) -> None:
    payload = _start(conformance, "approval_workflow", {"who": "ada", "timeout_seconds": 30}).json()
    deadline = time.monotonic() + 10
    while requests.get(payload["statusQueryGetUri"], timeout=10).json()["runtimeStatus"] != "Running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    send = payload["sendEventPostUri"].replace("{eventName}", "Approval")
    assert requests.post(send, json="yes, ship it", timeout=10).status_code == 202
    final = _follow(payload["statusQueryGetUri"])
    assert final["output"] == "Approved: yes, ship it"


def test_human_interaction_times_out_on_its_durable_timer(conformance: LaunchedHost) -> None:
    started = time.monotonic()
    final = _follow(_start(conformance, "approval_workflow", {"who": "bob", "timeout_seconds": 1}).json()[
        "statusQueryGetUri"])
    assert final["output"] == "Timed out" and time.monotonic() - started >= 1.0


def test_monitor_polls_on_a_timer_until_the_job_is_done(conformance: LaunchedHost) -> None:
    final = _follow(_start(conformance, "monitor", {"done_after": 3, "interval_seconds": 0.2,
                                                    "expiry_seconds": 30}).json()["statusQueryGetUri"])
    assert final["output"] == {"status": "Completed", "polls": 3}
    expired = _follow(_start(conformance, "monitor", {"done_after": 99, "interval_seconds": 0.3,
                                                      "expiry_seconds": 1}).json()["statusQueryGetUri"])
    assert expired["output"]["status"] == "Expired" and 2 <= expired["output"]["polls"] <= 5


def test_an_unimplemented_binding_is_reported_at_startup_and_fails_clearly(conformance: LaunchedHost) -> None:
    status = requests.get(f"{conformance.base_url}/admin/host/status", timeout=10,
                          headers={"x-functions-key": conformance.keys.master_key}).json()
    assert status["unsupported"] == {"enqueue": ["output binding type 'queue' (parameter 'msg')"]}
    log = conformance.log_path.read_text()
    assert "function enqueue: devhost does not implement its output binding type 'queue'" in log
    resp = requests.post(f"{conformance.base_url}/api/outbox", data=b"x", timeout=10)
    assert resp.status_code == 500 and "does not implement the output binding type 'queue'" in resp.text
    assert "TypeError" not in resp.text


def test_the_sdk_client_reports_entity_calls_as_a_clear_exception(conformance: LaunchedHost) -> None:
    for op in ("read", "signal"):
        resp = requests.get(f"{conformance.base_url}/api/entity/{op}", timeout=10)
        assert resp.status_code == 501, resp.text
        assert resp.text.startswith("Exception: ") and "501" in resp.text, resp.text
        assert "JSONDecodeError" not in resp.text and "Expecting value" not in resp.text
