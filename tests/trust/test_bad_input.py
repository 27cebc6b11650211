"""Every endpoint answers bad input with a 4xx and a short reason, never a 5xx or exception text: a table of
bad bodies per route on the real app (devhost), malformed Event Grid events, and the OpenAPI document (which
schemathesis drives in the slow suite)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from factory import events
from function_app.openapi import document

ROUTES = """
import json
from function_app import app
routes = {}
for function in app.get_functions():
    trigger = function.get_trigger()
    if getattr(trigger, "route", None) is not None:
        methods = [str(getattr(m, "value", m)).lower() for m in trigger.methods]
        routes.setdefault("/api/" + trigger.route, []).extend(methods)
print(json.dumps(routes))
"""

LEAKS = ("Traceback", "Exception", "Error:", 'File "', "KeyError", "TypeError", "ValueError", "AttributeError")


def _deep(n: int) -> str:
    return '{"model": ' + "[" * n + "]" * n + ', "data": "x"}'


BAD_BODIES = [  # (body, content type, expected status)
    ("[]", "application/json", 400), ("null", "application/json", 400), ('"x"', "application/json", 400),
    ("123", "application/json", 400), ("{", "application/json", 400), (b"\xff\xfe{}", "application/json", 400),
    (_deep(50), "application/json", 400), (_deep(100_000), "application/json", 413),
    ('{"model": "wine_cultivar", "data": "wine_cultivar/x.csv"}', "text/plain", 415),
    ("model=wine_cultivar", "application/x-www-form-urlencoded", 415),
    ('{"model": 5, "data": "wine_cultivar/x.csv"}', "application/json", 400),
    ('{"model": "wine_cultivar", "data": ["wine_cultivar/x.csv"]}', "application/json", 400),
    ('{"model": "wine_cultivar", "data": {"url": "x"}}', "application/json", 400),
    ('{"model": "wine_cultivar", "data": "wine_cultivar/x.csv", "idempotency_key": 5}', "application/json", 400),
    ('{"model": "wine_cultivar"}', "application/json", 400),
    ('{"data": "wine_cultivar/x.csv"}', "application/json", 400),
    ('{"model": "wine_cultivar", "data": "' + "a" * 5000 + '"}', "application/json", 400),
    ('{"model": "wine_cultivar", "data": "wine_cultivar/\\u0000.csv"}', "application/json", 400),
    ("x" * 70_000, "application/json", 413),
]


def _no_leak(text: str) -> None:
    assert not any(word in text for word in LEAKS), text[:300]


@pytest.mark.parametrize("body,ctype,status", BAD_BODIES, ids=[f"{i}" for i in range(len(BAD_BODIES))])
def test_post_runs_answers_bad_bodies_with_a_short_json_reason(app_stack, body, ctype, status):
    resp = requests.post(f"{app_stack.base_url}/api/runs", data=body.encode() if isinstance(body, str) else body,
                         headers={"x-functions-key": app_stack.function_key, "Content-Type": ctype}, timeout=30)
    assert resp.status_code == status, resp.text[:300]
    assert resp.headers["Content-Type"].startswith("application/json")
    reason = resp.json()["error"]
    assert 0 < len(reason) < 600
    _no_leak(reason)


def test_other_routes_answer_garbage_with_4xx(app_stack):
    base, key = app_stack.base_url, {"x-functions-key": app_stack.function_key}
    paths = ("/api/runs/%00", "/api/runs/" + "x" * 3000, "/api/runs/..%2f..%2fetc", "/api/runs/none/approval-links")
    for path in paths:
        resp = requests.get(base + path, headers=key, timeout=30)
        assert 400 <= resp.status_code < 500, (path, resp.status_code)
        _no_leak(resp.text)
    for params in ({}, {"v": "1"}, {"v": "1", "d": "x", "exp": "soon", "sig": "zz"},
                   {"v": "1", "d": "x", "exp": "9" * 400, "sig": "é" * 64}, {"exp": "-1", "sig": "0" * 64}):
        for method in ("GET", "POST"):
            resp = requests.request(method, f"{base}/api/approvals/x/approve", params=params, timeout=30)
            assert resp.status_code == 403, (params, resp.status_code)
            _no_leak(resp.text)
    assert requests.get(f"{base}/api/approvals/x/launch", timeout=30).status_code == 403


def test_malformed_event_grid_events_start_nothing_and_leak_nothing(app_stack):
    before = requests.get(f"{app_stack.base_url}/api/runs", headers={"x-functions-key": app_stack.function_key},
                          timeout=30).json()["runs"]
    endpoint = app_stack.settings_env()["FACTORY_EVENTGRID_ENDPOINT"]
    good = events.blob_created("devstoreaccount1", "incoming", "wine_cultivar/m.csv", "http://x/", '"0x1"', 1)
    malformed = [{**good, "data": None}, {**good, "data": []}, {**good, "data": "x"}, {**good, "subject": None},
                 {**good, "data": {"url": 5, "eTag": ["x"]}},
                 {**good, "subject": "/blobServices/default/containers/incoming/blobs/wine_cultivar/../../x.csv"}]
    image = {**good, "eventType": "Microsoft.ContainerRegistry.ImagePushed", "subject": "models/x:1"}
    malformed += [{**image, "data": {"target": "x"}}, {**image, "data": {"target": {"tag": 5}}}, {**image, "data": 7}]
    model = {**good, "eventType": "Microsoft.MachineLearningServices.ModelRegistered", "subject": "models/m:1"}
    malformed += [{**model, "data": {"ModelTags": "x"}}, {**model, "data": {"ModelTags": {"run_id": 5}}}]
    for event in malformed:  # through the local topic, as a publisher would
        resp = requests.post(endpoint, json=[event], headers={"aeg-sas-key": app_stack.eventgrid_key}, timeout=30)
        assert resp.status_code < 500, (event, resp.status_code)
        _no_leak(resp.text)
    for name in ("on_blob_created", "on_image_pushed", "on_model_registered", "on_run_status_changed"):
        for body in (malformed, [{"data": {"target": None}}]):
            resp = requests.post(f"{app_stack.base_url}/runtime/webhooks/eventgrid", params={
                "functionName": name, "code": app_stack.eventgrid_key}, json=body,
                headers={"aeg-event-type": "Notification"}, timeout=30)
            assert resp.status_code < 500, (name, resp.status_code, resp.text[:200])
            _no_leak(resp.text)
    time.sleep(1)
    after = requests.get(f"{app_stack.base_url}/api/runs", headers={"x-functions-key": app_stack.function_key},
                         timeout=30).json()["runs"]
    assert len(after) == len(before)


def test_the_openapi_document_names_every_http_function_and_is_served(app_stack):
    doc = document()
    # app.get_functions() may be called once per process (other tests call it): ask a fresh interpreter
    listing = subprocess.run([sys.executable, "-c", ROUTES], capture_output=True, text=True, timeout=120, check=True,
                             cwd=Path(__file__).resolve().parents[2])
    routes = {path: set(methods) for path, methods in json.loads(listing.stdout).items()}
    assert {path: set(ops) for path, ops in doc["paths"].items()} == routes, routes
    served = requests.get(f"{app_stack.base_url}/api/openapi.json", timeout=60)
    assert served.status_code == 200, served.text[:300]
    assert set(json.loads(served.text)["paths"]) == set(doc["paths"])


@pytest.mark.slow
def test_schemathesis_finds_no_5xx_and_no_exception_text(app_stack):
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_dict(document())
    headers = {"x-functions-key": app_stack.function_key}
    problems: list[str] = []
    calls = 0

    def exercise_one(operation) -> None:
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def exercise(case):
            nonlocal calls
            resp = case.call(base_url=app_stack.base_url, headers=headers, timeout=30)
            calls += 1
            if resp.status_code >= 500 or any(word in resp.text for word in LEAKS):
                problems.append(f"{operation.method.upper()} {operation.path} -> {resp.status_code}: {resp.text[:200]}")

        exercise()

    for result in schema.get_all_operations():
        exercise_one(result.ok())
    assert problems == [] and calls >= 7 * 10
