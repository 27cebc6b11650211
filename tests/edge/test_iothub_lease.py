"""The IoT Hub device pool's fair lease, offline: the real ``azure-iot-hub`` SDK sends its requests to a
requests adapter that keeps device twins as IoT Hub's REST API does (``GET``/``PATCH /twins/{id}``, tags
merged by JSON merge-patch, ``If-Match`` checked against the twin's etag: 412 when it changed). Every request
is recorded, and its shape asserted."""

from __future__ import annotations

import datetime as dt
import io
import json
import time

import pytest
import requests
import urllib3
from azure.core.credentials import AccessToken

from factory.adapters.azure.iothub import LEASE_TAG, IotHubEdgeDeployer
from factory.adapters.azure.iothub_mapping import lease_from_tag
from factory.edge.pool import WAITER_STALE_S, LeaseState, Waiter, fair_lease
from factory.edge.twin_patch import merge_patch

HUB = "factory-hub.azure-devices.net"


class TwinService(requests.adapters.BaseAdapter):
    """Device twins behind IoT Hub's twin REST API; ``race`` makes another writer change a twin between a read
    and the next write (that many times)."""

    def __init__(self, *devices: str) -> None:
        super().__init__()
        self.twins = {d: {"deviceId": d, "etag": "AAAAAAAAAAE=", "version": 1, "tags": {}, "properties": {}}
                      for d in devices}
        self.sent: list[tuple[str, str, dict[str, str], dict | None]] = []
        self.race = 0

    def _answer(self, request, status: int, body: dict):
        raw = urllib3.response.HTTPResponse(body=io.BytesIO(json.dumps(body).encode()), status=status,
                                            preload_content=False, headers={"Content-Type": "application/json"})
        return requests.adapters.HTTPAdapter().build_response(request, raw)

    def _bump(self, twin: dict) -> None:
        twin["version"] += 1
        twin["etag"] = f"AAAAAAAAA{twin['version']:03d}="

    def send(self, request, **kwargs):
        path, _, query = request.path_url.partition("?")
        body = json.loads(request.body) if request.body else None
        self.sent.append((request.method, path, dict(request.headers), body))
        assert "api-version=" in query and request.headers["Authorization"] == "Bearer token"
        parts = path.strip("/").split("/")
        if parts[0] != "twins" or parts[1] not in self.twins or len(parts) != 2:
            return self._answer(request, 404, {"Message": f"no route {path}"})
        twin = self.twins[parts[1]]
        if request.method == "GET":
            return self._answer(request, 200, twin)
        assert request.method == "PATCH", request.method
        if self.race:
            self.race -= 1
            self._bump(twin)  # someone else's write landed first
        if request.headers.get("If-Match") not in ("*", f'"{twin["etag"]}"'):
            return self._answer(request, 412, {"Message": "PreconditionFailed: etag mismatch"})
        twin["tags"] = merge_patch(twin["tags"], body.get("tags") or {})
        self._bump(twin)
        return self._answer(request, 200, twin)

    def close(self) -> None:
        pass

    def lease_tag(self, device: str) -> dict:
        return self.twins[device]["tags"].get(LEASE_TAG) or {}


class _Token:
    def get_token(self, *scopes, **kwargs):
        return AccessToken("token", int(time.time()) + 3600)


def deployer(hub: TwinService, device: str) -> IotHubEdgeDeployer:
    """The real adapter on the real SDK, its HTTP session mounted on ``hub``."""
    dep = IotHubEdgeDeployer(HUB, device, credential=_Token())

    def mount(session, global_config, local_config, **kwargs):
        session.mount("https://", hub)
        return kwargs

    dep.registry.protocol.config.session_configuration_callback = mount
    return dep


def test_the_lease_is_an_etag_guarded_patch_of_the_device_twins_tag():
    hub = TwinService("smoke-amd64")
    device = deployer(hub, "smoke-amd64")
    answer = device.lease("run-a", 600)
    assert answer.acquired and answer.holder == "run-a"
    get, patch = hub.sent
    assert (get[0], get[1]) == ("GET", "/twins/smoke-amd64")
    assert (patch[0], patch[1]) == ("PATCH", "/twins/smoke-amd64")
    assert patch[2]["If-Match"] == '"AAAAAAAAAAE="'  # the etag of the twin it read
    assert patch[3] == {"tags": {LEASE_TAG: {"holder": "run-a", "expires_at": answer.expires_at, "queue": "[]"}}}
    expires = dt.datetime.fromisoformat(answer.expires_at)
    assert 590 < (expires - dt.datetime.now(dt.UTC)).total_seconds() <= 600


def test_runs_waiting_for_an_iothub_device_get_it_in_the_order_they_asked():
    hub = TwinService("smoke-amd64")
    device = deployer(hub, "smoke-amd64")
    assert device.lease("run-a", 600).acquired
    assert not device.lease("run-b", 600).acquired  # b asks first, then c
    refused = device.lease("run-c", 600)
    assert not refused.acquired and refused.holder == "run-a" and refused.queue == ["run-b", "run-c"]
    assert [w["holder"] for w in json.loads(hub.lease_tag("smoke-amd64")["queue"])] == ["run-b", "run-c"]
    device.release("run-a")
    assert hub.lease_tag("smoke-amd64")["holder"] == ""
    late = device.lease("run-c", 600)  # c asks first after the release, but b has waited longer
    assert not late.acquired and "run-b asked first" in late.reason
    assert device.lease("run-b", 600).acquired
    assert device.lease("run-b", 600).acquired  # renewing keeps it
    device.release("run-c")  # not the holder: nothing changes
    assert hub.lease_tag("smoke-amd64")["holder"] == "run-b"
    device.release("run-b")
    assert device.lease("run-c", 600).acquired
    assert json.loads(hub.lease_tag("smoke-amd64")["queue"]) == []


def test_two_runs_share_the_pool_one_device_per_architecture_each_in_turn():
    """Runs of two models both need the amd64 and the arm64 device: each device has its own lease and queue,
    so the second run gets a device as soon as the first gives that one back, and both runs finish."""
    hub = TwinService("smoke-amd64", "smoke-arm64")
    amd64, arm64 = deployer(hub, "smoke-amd64"), deployer(hub, "smoke-arm64")
    assert amd64.lease("run-wine", 600).acquired and arm64.lease("run-wine", 600).acquired
    assert not amd64.lease("run-taxi", 600).acquired and not arm64.lease("run-taxi", 600).acquired
    amd64.release("run-wine")  # wine's amd64 smoke test is done; its arm64 one (emulated) still runs
    assert amd64.lease("run-taxi", 600).acquired
    assert not arm64.lease("run-taxi", 600).acquired
    arm64.release("run-wine")
    assert arm64.lease("run-taxi", 600).acquired
    assert {d: hub.lease_tag(d)["holder"] for d in hub.twins} == {"smoke-amd64": "run-taxi",
                                                                  "smoke-arm64": "run-taxi"}


def test_a_write_that_lost_the_race_is_retried_on_the_fresh_twin():
    hub = TwinService("smoke-amd64")
    device = deployer(hub, "smoke-amd64")
    hub.race = 2  # two other writes land between this run's read and its write
    assert device.lease("run-a", 600).acquired
    assert [m for m, *_ in hub.sent] == ["GET", "PATCH", "GET", "PATCH", "GET", "PATCH"]
    hub.race = 99  # the tag keeps changing: the run is refused this time and asks again on its next poll
    answer = device.lease("run-b", 600)
    assert not answer.acquired and "kept changing" in answer.reason


def test_another_error_of_the_hub_is_raised():
    from msrest.exceptions import HttpOperationError

    hub = TwinService("smoke-amd64")
    with pytest.raises(HttpOperationError):
        deployer(hub, "not-registered").lease("run-a", 600)


def test_a_waiter_that_stopped_asking_leaves_the_queue_and_a_full_queue_refuses_newcomers():
    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    held = LeaseState("run-a", (now + dt.timedelta(minutes=10)).isoformat())
    state, _ = fair_lease(held, "run-b", 600, now)
    state, _ = fair_lease(state, "run-c", 600, now + dt.timedelta(seconds=10))
    later = now + dt.timedelta(seconds=WAITER_STALE_S + 5)  # b stopped asking (its run was cancelled)
    free = LeaseState(queue=state.queue)
    state, answer = fair_lease(free, "run-c", 600, later)
    assert answer.acquired and state.holder == "run-c" and state.queue == ()
    crowd = LeaseState("run-a", held.expires_at, tuple(Waiter(f"run-{i}", now.isoformat(), now.isoformat())
                                                        for i in range(32)))
    same, answer = fair_lease(crowd, "run-late", 600, now)
    assert not answer.acquired and "32 runs are already waiting" in answer.reason
    assert "run-late" not in [w.holder for w in same.queue]
    with pytest.raises(ValueError, match="holder"):
        fair_lease(LeaseState(), "", 600, now)


def test_a_malformed_lease_tag_reads_as_a_free_device():
    assert lease_from_tag(None) == LeaseState()
    assert lease_from_tag({"holder": "run-a", "expires_at": "soon", "queue": "not json"}) == LeaseState("run-a")
    assert lease_from_tag({"holder": "", "expires_at": "", "queue": '[{"holder": "x"}]'}) == LeaseState()
