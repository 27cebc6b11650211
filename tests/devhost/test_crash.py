"""Crash safety: SIGKILL the devhost process mid-run, restart it on the same state directory, and the runs
complete; completed activity results are kept, so each activity body runs at most twice."""

from __future__ import annotations

import collections
import time
from pathlib import Path

import pytest
import requests
from devhost_testkit import APP_DIR, Client

from devhost.server import LaunchedHost, launch


def _launch(state: Path, out: Path, log: Path) -> LaunchedHost:
    return launch(app_dir=APP_DIR, app_module="dh_test_app", state_dir=state, workers=4, log_file=log,
                  subscriptions=APP_DIR / "subscriptions.json", env={"DEVHOST_TEST_OUT": str(out)})


def _run_counts(client: Client, iid: str) -> collections.Counter:
    return collections.Counter(r["key"] for r in client.lines(f"crash-{iid}.jsonl"))


def _crash_run(tmp_path: Path, kill_after: list[float], instances: int = 3) -> None:
    out, state = tmp_path / "out", tmp_path / "state"
    out.mkdir()
    host = _launch(state, out, tmp_path / "devhost-0.log")
    client = Client(host.base_url, out)
    ids = [client.start("crashy", {"chain": 5, "fan": 6, "sleep": 0.15, "timer": 0.5, "file": f"crash-c{i}.jsonl"},
                        f"c{i}") for i in range(instances)]
    for n, delay in enumerate(kill_after, start=1):
        time.sleep(delay)
        host.kill()  # SIGKILL: no shutdown code runs
        host = _launch(state, out, tmp_path / f"devhost-{n}.log")
        client = Client(host.base_url, out)
    try:
        for iid in ids:
            st = client.wait(iid, timeout=60)
            assert st["runtimeStatus"] == "Completed", st
            assert st["output"] == [f"c{i}" for i in range(5)] + [f"f{i}" for i in range(6)]
            counts = _run_counts(client, iid)
            assert set(counts) == {f"c{i}" for i in range(5)} | {f"f{i}" for i in range(6)}
            assert max(counts.values()) <= 2, counts
    finally:
        host.stop()


def test_sigkill_mid_run_then_restart_completes_with_at_most_two_runs_per_activity(tmp_path: Path) -> None:
    _crash_run(tmp_path, kill_after=[0.6])


@pytest.mark.slow
def test_repeated_sigkills_at_different_moments(tmp_path: Path) -> None:
    _crash_run(tmp_path, kill_after=[0.25, 0.7, 0.45, 1.1], instances=5)


def test_durable_timer_and_accepted_event_survive_a_kill(tmp_path: Path) -> None:
    out, state = tmp_path / "out", tmp_path / "state"
    out.mkdir()
    host = _launch(state, out, tmp_path / "a.log")
    client = Client(host.base_url, out)
    timer_id = client.start("timer_only", 1.5)
    event_id = client.start("wait_event")
    client.wait(event_id, statuses=("Running",))
    assert client.raise_event(event_id, "approval", "kept").status_code == 202
    host.kill()
    time.sleep(1.6)  # the timer comes due while no host runs
    host = _launch(state, out, tmp_path / "b.log")
    client = Client(host.base_url, out)
    try:
        assert client.wait(event_id, timeout=20)["output"] == {"approval": "kept"}
        st = client.wait(timer_id, timeout=20)
        assert st["runtimeStatus"] == "Completed" and st["output"] >= 1.5
    finally:
        host.stop()


def test_accepted_topic_deliveries_survive_a_kill(tmp_path: Path) -> None:
    out, state = tmp_path / "out", tmp_path / "state"
    out.mkdir()
    host = launch(app_dir=APP_DIR, app_module="dh_test_app", state_dir=state, log_file=tmp_path / "a.log",
                  subscriptions=APP_DIR / "subscriptions.json", env={"DEVHOST_TEST_OUT": str(out)},
                  extra_args=["--eventgrid-first-retry", "3"])
    event = {"id": "survivor", "eventType": "Test.Flaky", "subject": "s", "data": {"succeed_on": 2},
             "dataVersion": "1", "eventTime": "2026-11-26T07:00:00Z"}
    assert requests.post(f"{host.base_url}/runtime/eventgrid/topic", json=[event],
                         headers={"aeg-sas-key": host.keys.eventgrid_key}).status_code == 200
    client = Client(host.base_url, out)
    deadline = time.time() + 10
    while not client.lines("eg-on_flaky.jsonl"):  # first attempt failed; the retry is 3 s away
        assert time.time() < deadline
        time.sleep(0.02)
    host.kill()
    host = launch(app_dir=APP_DIR, app_module="dh_test_app", state_dir=state, log_file=tmp_path / "b.log",
                  subscriptions=APP_DIR / "subscriptions.json", env={"DEVHOST_TEST_OUT": str(out)},
                  extra_args=["--eventgrid-first-retry", "0.05"])
    try:
        deadline = time.time() + 10
        while len(client.lines("eg-on_flaky.jsonl")) < 2:
            assert time.time() < deadline, "the accepted delivery was not retried after the restart"
            time.sleep(0.05)
        assert [r["id"] for r in client.lines("eg-on_flaky.jsonl")] == ["survivor", "survivor"]
    finally:
        host.stop()


def test_sigterm_with_a_long_activity_running_exits_promptly_and_the_activity_reruns(tmp_path: Path) -> None:
    out, state = tmp_path / "out", tmp_path / "state"
    out.mkdir()
    host = _launch(state, out, tmp_path / "a.log")
    client = Client(host.base_url, out)
    iid = client.start("wait_event", {"work_first": 30})
    client.wait(iid, statuses=("Running",))
    time.sleep(0.3)
    t0 = time.time()
    host.stop()  # SIGTERM
    assert time.time() - t0 < 5 and host.process.returncode == 0
    host = _launch(state, out, tmp_path / "b.log")
    try:
        assert "resuming 1 activity invocation(s)" in (tmp_path / "b.log").read_text()
        client = Client(host.base_url, out)
        assert client.status(iid)["runtimeStatus"] == "Running"
    finally:
        host.kill()
