"""Every route of the Durable Functions HTTP API against its documented status codes, headers and body shapes.

Each case names the section of the HTTP API reference (learn.microsoft.com/azure/azure-functions/durable/
durable-functions-http-api) it checks; where the doc is silent, the extension's HTTP handler (HttpApiHandler)
is the reference and the case says so. Driven on the conformance app (tests/devhost/conformance_app)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from devhost.server import LaunchedHost

DURABLE = "/runtime/webhooks/durabletask"
HOST_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")  # DateTime.ToString("s") + "Z"
STATUS_FIELDS = {"name", "instanceId", "runtimeStatus", "input", "customStatus", "output", "createdTime",
                 "lastUpdatedTime"}


class Api:
    def __init__(self, host: LaunchedHost) -> None:
        self.base = host.base_url + DURABLE
        self.http = requests.Session()
        self.http.headers["x-functions-key"] = host.keys.system_key

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.http.request(method, self.base + path, timeout=15, **kw)

    def start(self, name: str, body: Any = None, instance_id: str | None = None) -> str:
        resp = self.call("POST", f"/orchestrators/{name}" + (f"/{instance_id}" if instance_id else ""), json=body)
        assert resp.status_code == 202, resp.text
        return resp.json()["id"]

    def wait(self, iid: str, statuses: tuple[str, ...] = ("Completed", "Failed", "Terminated")) -> dict:
        deadline = time.monotonic() + 20
        while True:
            body = self.call("GET", f"/instances/{iid}").json()
            if body["runtimeStatus"] in statuses:
                return body
            assert time.monotonic() < deadline, body
            time.sleep(0.05)


@pytest.fixture(scope="module")
def api(conformance: LaunchedHost) -> Api:
    return Api(conformance)


def running(api: Api) -> str:
    iid = api.start("waits_forever", {"n": 1})
    api.wait(iid, ("Running",))
    return iid


def completed(api: Api) -> str:
    iid = api.start("hello_sequence")
    api.wait(iid)
    return iid


def failed(api: Api) -> str:
    iid = api.start("fails")
    api.wait(iid)
    return iid


def unknown(api: Api) -> str:
    return f"nobody-{uuid.uuid4().hex[:8]}"


@dataclass
class Case:
    name: str
    setup: Callable[[Api], str]
    method: str
    path: str  # {id}: the instance the setup made
    status: int
    kw: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str | None] = field(default_factory=dict)  # None: must be present, any value
    check: Callable[[Any, str], bool] | None = None  # (json body or None, instance id) -> holds


def _status_shape(body: Any, iid: str) -> bool:
    return (set(body) >= STATUS_FIELDS and body["instanceId"] == iid and HOST_TIME.match(body["createdTime"])
            is not None and HOST_TIME.match(body["lastUpdatedTime"]) is not None)


def _payload_shape(body: Any, iid: str) -> bool:
    return body["id"] != "" and all("code=" in body[k] for k in ("statusQueryGetUri", "sendEventPostUri",
                                                                  "terminatePostUri", "purgeHistoryDeleteUri"))


CASES = [
    Case("Start orchestration: 202, check-status payload, Location, Retry-After", unknown, "POST",
         "/orchestrators/hello_sequence", 202, {"json": None}, {"Location": None, "Retry-After": "10"},
         _payload_shape),
    Case("Start orchestration: with an instance id", unknown, "POST", "/orchestrators/hello_sequence/{id}", 202,
         {}, {"Location": None}, lambda b, iid: b["id"] == iid),
    Case("Start orchestration: timeout+pollingInterval waits, 200 with the output", unknown, "POST",
         "/orchestrators/hello_sequence?timeout=20&pollingInterval=0.1", 200, {},
         check=lambda b, iid: b == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]),
    Case("Start orchestration: timeout passes while running, 202 payload", unknown, "POST",
         "/orchestrators/waits_forever?timeout=0.3&pollingInterval=0.1", 202, {}, {"Location": None},
         _payload_shape),
    Case("Start orchestration: unknown orchestrator, 400", unknown, "POST", "/orchestrators/no_such", 400, {},
         check=lambda b, iid: "doesn't exist" in b["ExceptionMessage"]),
    Case("Start orchestration: a running instance id, 409 (HttpApiHandler)", running, "POST",
         "/orchestrators/waits_forever/{id}", 409),
    Case("Start orchestration: invalid JSON body, 400 (HttpApiHandler)", unknown, "POST",
         "/orchestrators/hello_sequence", 400, {"data": b"{not json", "headers": {"Content-Type": "application/json"}}),
    Case("Get instance status: running, 202 with Location and Retry-After", running, "GET", "/instances/{id}", 202,
         {}, {"Location": None, "Retry-After": "5"}, _status_shape),
    Case("Get instance status: completed, 200, no Location", completed, "GET", "/instances/{id}", 200, {},
         {}, lambda b, iid: _status_shape(b, iid) and b["output"][0] == "Hello Tokyo!" and "historyEvents" not in b),
    Case("Get instance status: failed, 200 (HttpApiHandler)", failed, "GET", "/instances/{id}", 200, {},
         check=lambda b, iid: b["runtimeStatus"] == "Failed" and "fails on purpose" in b["output"]),
    Case("Get instance status: failed with returnInternalServerErrorOnFailure, 500", failed, "GET",
         "/instances/{id}?returnInternalServerErrorOnFailure=true", 500),
    Case("Get instance status: unknown, 404", unknown, "GET", "/instances/{id}", 404),
    Case("Get instance status: showInput=false, input null", running, "GET", "/instances/{id}?showInput=false", 202,
         check=lambda b, iid: b["input"] is None),
    Case("Get instance status: showInput default, input shown", running, "GET", "/instances/{id}", 202,
         check=lambda b, iid: b["input"] == {"n": 1}),
    Case("Get instance status: showHistory, documented history without outputs", completed, "GET",
         "/instances/{id}?showHistory=true", 200,
         check=lambda b, iid: [e["EventType"] for e in b["historyEvents"]] == [
             "ExecutionStarted", "TaskCompleted", "TaskCompleted", "TaskCompleted", "ExecutionCompleted"]
         and all("Result" not in e for e in b["historyEvents"])),
    Case("Get instance status: showHistoryOutput, results as JSON values", completed, "GET",
         "/instances/{id}?showHistory=true&showHistoryOutput=true", 200,
         check=lambda b, iid: b["historyEvents"][1] | {"Timestamp": 0, "ScheduledTime": 0} == {
             "EventType": "TaskCompleted", "FunctionName": "say_hello", "Result": "Hello Tokyo!", "Timestamp": 0,
             "ScheduledTime": 0} and b["historyEvents"][-1]["Result"][2] == "Hello London!"),
    Case("Get all instances status: runtimeStatus filter", running, "GET", "/instances?runtimeStatus=Running", 200,
         check=lambda b, iid: iid in [i["instanceId"] for i in b] and {i["runtimeStatus"] for i in b} == {"Running"}),
    Case("Get all instances status: instanceIdPrefix and createdTimeFrom", completed, "GET",
         "/instances?instanceIdPrefix={id}&createdTimeFrom=2000-01-01T00:00:00Z", 200,
         check=lambda b, iid: [i["instanceId"] for i in b] == [iid] and _status_shape(b[0], iid)),
    Case("Get all instances status: garbage filters are ignored (HttpApiHandler TryParse)", completed, "GET",
         "/instances?instanceIdPrefix={id}&createdTimeFrom=yesterday&top=lots&runtimeStatus=Sideways", 200,
         check=lambda b, iid: [i["instanceId"] for i in b] == [iid]),
    Case("Get all instances status: a continuation token it did not issue, 400", unknown, "GET", "/instances", 400,
         {"headers": {"x-ms-continuation-token": "forged"}}),
    Case("Raise event: 202", running, "POST", "/instances/{id}/raiseEvent/go", 202, {"json": {"ok": True}}),
    Case("Raise event: not JSON content, 400", running, "POST", "/instances/{id}/raiseEvent/go", 400,
         {"data": b"x", "headers": {"Content-Type": "text/plain"}}),
    Case("Raise event: completed instance, 410", completed, "POST", "/instances/{id}/raiseEvent/go", 410,
         {"json": 1}),
    Case("Raise event: unknown instance, 404", unknown, "POST", "/instances/{id}/raiseEvent/go", 404, {"json": 1}),
    Case("Terminate instance: 202", running, "POST", "/instances/{id}/terminate?reason=enough", 202),
    Case("Terminate instance: completed, 410", completed, "POST", "/instances/{id}/terminate", 410),
    Case("Terminate instance: unknown, 404", unknown, "POST", "/instances/{id}/terminate", 404),
    Case("Suspend instance: 202", running, "POST", "/instances/{id}/suspend?reason=later", 202),
    Case("Suspend instance: completed, 410", completed, "POST", "/instances/{id}/suspend", 410),
    Case("Resume instance: 202", running, "POST", "/instances/{id}/resume", 202),
    Case("Resume instance: unknown, 404", unknown, "POST", "/instances/{id}/resume", 404),
    Case("Rewind instance (preview): not failed, 412", completed, "POST", "/instances/{id}/rewind", 412),
    Case("Rewind instance (preview): failed, 501 (devhost has no rewind)", failed, "POST", "/instances/{id}/rewind",
         501, check=lambda b, iid: "Rewind" in b["Message"]),
    Case("Rewind instance (preview): unknown, 404", unknown, "POST", "/instances/{id}/rewind", 404),
    Case("Purge single instance history: 200 instancesDeleted", completed, "DELETE", "/instances/{id}", 200,
         check=lambda b, iid: b == {"instancesDeleted": 1}),
    Case("Purge single instance history: running, 412 (HttpApiHandler)", running, "DELETE", "/instances/{id}", 412),
    Case("Purge single instance history: unknown, 404", unknown, "DELETE", "/instances/{id}", 404),
    Case("Purge multiple instance histories: without createdTimeFrom, 400", completed, "DELETE",
         "/instances?runtimeStatus=Completed", 400),
    Case("Purge multiple instance histories: nothing matched, 404", unknown, "DELETE",
         "/instances?createdTimeFrom=2000-01-01T00:00:00Z&createdTimeTo=2000-01-02T00:00:00Z", 404),
    Case("Purge multiple instance histories: 200 instancesDeleted", failed, "DELETE",
         "/instances?createdTimeFrom=2000-01-01T00:00:00Z&runtimeStatus=Failed", 200,
         check=lambda b, iid: b["instancesDeleted"] >= 1),
    Case("Restart instance (HttpApiHandler): new id, 202 check-status payload", completed, "POST",
         "/instances/{id}/restart", 202, {}, {"Location": None, "Retry-After": "10"},
         lambda b, iid: _payload_shape(b, iid) and b["id"] != iid),
    Case("Restart instance (HttpApiHandler): same id", completed, "POST",
         "/instances/{id}/restart?restartWithNewInstanceId=false", 202, check=lambda b, iid: b["id"] == iid),
    Case("Restart instance (HttpApiHandler): running with the same id, 409", running, "POST",
         "/instances/{id}/restart?restartWithNewInstanceId=false", 409),
    Case("Restart instance (HttpApiHandler): unknown, 400", unknown, "POST", "/instances/{id}/restart", 400),
    Case("Get entity: JSON 501, devhost has no Durable Entities", unknown, "GET", "/entities/counter/{id}", 501,
         check=lambda b, iid: "Durable Entities" in b["Message"]),
    Case("Signal entity: JSON 501", unknown, "POST", "/entities/counter/{id}?op=add", 501, {"json": 1}),
    Case("List entities: JSON 501", unknown, "GET", "/entities/counter", 501),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_route(api: Api, case: Case) -> None:
    iid = case.setup(api)
    resp = api.call(case.method, case.path.format(id=iid), **case.kw)
    assert resp.status_code == case.status, (resp.status_code, resp.text)
    for name, value in case.headers.items():
        assert name in resp.headers, (name, dict(resp.headers))
        if value is not None:
            assert resp.headers[name] == value, (name, resp.headers[name])
    if case.check is not None:
        assert case.check(resp.json() if resp.content else None, iid), resp.text


def test_location_of_a_running_status_is_the_status_url_and_of_the_start_its_status_query(api: Api) -> None:
    resp = api.call("POST", "/orchestrators/waits_forever", json=None)
    assert resp.headers["Location"] == resp.json()["statusQueryGetUri"]
    status = requests.get(resp.headers["Location"], timeout=10)
    assert status.status_code == 202 and status.headers["Location"] == resp.headers["Location"]


def test_list_pages_with_top_and_the_continuation_token(api: Api) -> None:
    prefix = f"page-{uuid.uuid4().hex[:6]}-"
    ids = [api.start("hello_sequence", None, f"{prefix}{i}") for i in range(5)]
    seen, token, pages = [], None, 0
    while True:
        resp = api.call("GET", f"/instances?instanceIdPrefix={prefix}&top=2",
                        headers={"x-ms-continuation-token": token} if token else {})
        assert resp.status_code == 200 and len(resp.json()) <= 2
        seen += [i["instanceId"] for i in resp.json()]
        pages += 1
        token = resp.headers.get("x-ms-continuation-token")
        if not token:
            break
    assert sorted(seen) == sorted(ids) and pages == 3


def test_list_without_top_returns_everything_as_the_sdk_expects(api: Api) -> None:
    prefix = f"all-{uuid.uuid4().hex[:6]}-"
    ids = [api.start("hello_sequence", None, f"{prefix}{i}") for i in range(3)]
    resp = api.call("GET", f"/instances?instanceIdPrefix={prefix}")
    assert sorted(i["instanceId"] for i in resp.json()) == ids and "x-ms-continuation-token" not in resp.headers
