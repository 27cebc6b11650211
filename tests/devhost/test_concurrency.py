"""Load: many concurrent instances; long-running activities do not hold up other orchestrations or HTTP."""

from __future__ import annotations

import time

import requests
from devhost_testkit import Client


def test_hundred_concurrent_instances_complete(dh1: Client) -> None:
    ids = [dh1.start("chain", 3) for _ in range(100)]
    for iid in ids:
        st = dh1.wait(iid, timeout=60)
        assert st["runtimeStatus"] == "Completed" and st["output"] == 3


def test_long_activities_do_not_block_other_instances_or_http(dh1: Client) -> None:
    slow = [dh1.start("wait_event", {"work_first": 5}) for _ in range(2)]
    time.sleep(0.2)
    t0 = time.time()
    resp = requests.get(f"{dh1.base}/api/hello/x")
    assert resp.status_code == 200 and time.time() - t0 < 2.0
    fast = dh1.start("chain", 3)
    assert dh1.wait(fast, timeout=4)["output"] == 3
    assert all(dh1.status(i)["runtimeStatus"] == "Running" for i in slow)
    for iid in slow:
        dh1.raise_event(iid, "approval", "late")
    for iid in slow:
        assert dh1.wait(iid, timeout=10)["output"] == {"approval": "late"}
