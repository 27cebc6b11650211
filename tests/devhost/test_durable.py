"""Durable orchestrations through the real SDK: every action type, events, timers, retries, sub-orchestrations,
management API. Each test runs on a session-replay devhost and on a full-replay devhost."""

from __future__ import annotations

import time
import uuid

import requests
from devhost_testkit import DURABLE, Client


def test_chain_of_activities(dh: Client) -> None:
    st = dh.wait(dh.start("chain", 5))
    assert st["runtimeStatus"] == "Completed" and st["output"] == 5


def test_fan_out_fan_in(dh: Client) -> None:
    st = dh.wait(dh.start("fan_out", 20))
    assert st["output"] == sum(2 * i for i in range(20))


def test_async_activity_function_reference_and_custom_status(dh: Client) -> None:
    st = dh.wait(dh.start("hello_sequence"))
    assert st["output"] == ["TOKYO", "seattle"]
    assert st["customStatus"] == {"stage": "done"}


def test_check_status_response_urls_work(dh: Client) -> None:
    resp = requests.post(f"{dh.base}/api/orchestrators/chain", data="2")
    assert resp.status_code == 202
    payload = resp.json()
    assert resp.headers["Location"] == payload["statusQueryGetUri"]
    deadline = time.time() + 20
    while True:
        st = requests.get(payload["statusQueryGetUri"])
        if st.status_code == 200:
            break
        assert st.status_code == 202 and time.time() < deadline
        time.sleep(0.05)
    assert st.json()["output"] == 2
    assert requests.delete(payload["purgeHistoryDeleteUri"]).json() == {"instancesDeleted": 1}
    assert requests.get(payload["statusQueryGetUri"]).status_code == 404


def test_history_has_the_documented_shape(dh: Client) -> None:
    iid = dh.start("chain", 2)
    dh.wait(iid)
    events = dh.status(iid, history=True)["historyEvents"]
    assert [e["EventType"] for e in events] == ["ExecutionStarted", "TaskCompleted", "TaskCompleted",
                                                "ExecutionCompleted"]
    assert events[0]["FunctionName"] == "chain" and events[-1]["OrchestrationStatus"] == "Completed"
    assert all(e["FunctionName"] == "noop" and "ScheduledTime" in e and e["Result"] == 1
               for e in events[1:3])


def test_sub_orchestration_and_failing_sub_orchestration(dh: Client) -> None:
    iid = dh.start("parent", {"value": 21})
    st = dh.wait(iid)
    assert st["runtimeStatus"] == "Completed"
    assert st["output"]["child"] == {"doubled": 42, "parent": iid}
    assert "child exploded" in st["output"]["failure"]
    assert dh.status(f"{iid}-failing")["runtimeStatus"] == "Failed"


def test_sub_orchestration_with_retry_runs_the_child_three_times(dh: Client) -> None:
    st = dh.wait(dh.start("sub_with_retry"))
    assert "child exploded" in st["output"]["failed"]


def test_activity_exception_becomes_task_failed_with_its_message(dh: Client) -> None:
    st = dh.wait(dh.start("activity_fails", f"af-{uuid.uuid4().hex}.jsonl"))
    assert st["runtimeStatus"] == "Completed"
    assert "ValueError: flaky failure 1" in st["output"]


def test_orchestrator_exception_fails_the_instance(dh: Client) -> None:
    st = dh.wait(dh.start("broken"))
    assert st["runtimeStatus"] == "Failed"
    assert "orchestrator bug" in st["output"]


def test_retry_counts_and_back_off(dh: Client) -> None:
    file = f"retry-{uuid.uuid4().hex}.jsonl"
    st = dh.wait(dh.start("retrying", {"file": file, "key": "k", "fail_times": 2, "attempts": 4,
                                       "first_ms": 300}))
    assert st["output"] == {"result": "ok after 3"}
    times = [r["t"] for r in dh.lines(file)]
    assert len(times) == 3
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # the SDK's RetryOptions carries first interval and max attempts (back-off coefficient 1, as DTFx defaults)
    assert all(0.29 <= g < 1.0 for g in gaps), gaps


def test_retry_gives_up_after_max_attempts(dh: Client) -> None:
    file = f"retry-{uuid.uuid4().hex}.jsonl"
    st = dh.wait(dh.start("retrying", {"file": file, "key": "k", "fail_times": 10, "attempts": 3, "first_ms": 50}))
    assert "flaky failure 3" in st["output"]["failed"]
    assert len(dh.lines(file)) == 3


def test_event_raised_before_the_orchestration_waits_is_kept(dh: Client) -> None:
    iid = dh.start("wait_event", {"work_first": 0.5})
    assert dh.raise_event(iid, "approval", {"ok": True}).status_code == 202
    assert dh.status(iid)["runtimeStatus"] in ("Pending", "Running")
    st = dh.wait(iid)
    assert st["output"] == {"approval": {"ok": True}}


def test_raise_event_through_the_sdk_client(dh: Client) -> None:
    iid = dh.start("wait_event")
    resp = dh.client_op("raise", iid, {"by": "sdk"}, event="approval")
    assert resp.status_code == 200, resp.text
    # as on Azure, the SDK client's raise_event JSON-encodes the data twice: the orchestrator gets a JSON string
    assert dh.wait(iid)["output"] == {"approval": '{"by": "sdk"}'}


def test_timer_racing_an_event_event_wins(dh: Client) -> None:
    iid = dh.start("race", 30)
    time.sleep(0.2)
    dh.raise_event(iid, "go", 7)
    st = dh.wait(iid, timeout=10)
    assert st["output"] == {"winner": "event", "value": 7}


def test_timer_racing_an_event_timer_wins(dh: Client) -> None:
    st = dh.wait(dh.start("race", 0.5), timeout=10)
    assert st["output"] == {"winner": "timer"}


def test_durable_timer_waits_its_time(dh: Client) -> None:
    t0 = time.time()
    st = dh.wait(dh.start("timer_only", 1.0))
    assert st["output"] >= 1.0 and time.time() - t0 >= 1.0


def test_continue_as_new(dh: Client) -> None:
    st = dh.wait(dh.start("counter", 0))
    assert st["output"] == 3 and st["customStatus"] == {"n": 3}
    assert [e["EventType"] for e in dh.status(st["instanceId"], history=True)["historyEvents"]].count(
        "ExecutionStarted") == 1


def test_new_guid_and_current_time_are_deterministic_across_replays(dh: Client) -> None:
    file = f"det-{uuid.uuid4().hex}.jsonl"
    st = dh.wait(dh.start("deterministic", file))
    assert st["output"]["g1"] != st["output"]["g2"]
    rows = dh.lines(file)
    assert rows and all(r["g1"] == st["output"]["g1"] and r["t1"] == st["output"]["t1"] for r in rows)


def test_start_with_caller_chosen_id_and_refuse_running_duplicate(dh: Client) -> None:
    iid = f"mine-{uuid.uuid4().hex[:8]}"
    assert dh.start("wait_event", None, iid) == iid
    resp = dh.client_op("start", iid, None, name="wait_event")
    assert resp.status_code == 409 and "already exists" in resp.json()["error"]
    dh.raise_event(iid, "approval", 1)
    assert dh.wait(iid)["output"] == {"approval": 1}
    assert dh.start("chain", 1, iid) == iid  # a finished id may be reused
    assert dh.wait(iid)["output"] == 1


def test_terminate(dh: Client) -> None:
    iid = dh.start("wait_event")
    assert dh.client_op("terminate", iid, reason="enough").status_code == 200
    st = dh.wait(iid)
    assert st["runtimeStatus"] == "Terminated" and st["output"] == "enough"
    assert dh.http.post(f"{dh.base}{DURABLE}/instances/{iid}/terminate").status_code == 410
    assert dh.http.post(f"{dh.base}{DURABLE}/instances/nope/terminate").status_code == 404


def test_suspend_and_resume_hold_events_until_resumed(dh: Client) -> None:
    iid = dh.start("wait_event")
    dh.wait(iid, statuses=("Running",))
    assert dh.client_op("suspend", iid).status_code == 200
    dh.wait(iid, statuses=("Suspended",))
    dh.raise_event(iid, "approval", "while-suspended")
    time.sleep(0.3)
    assert dh.status(iid)["runtimeStatus"] == "Suspended"
    assert dh.client_op("resume", iid).status_code == 200
    assert dh.wait(iid)["output"] == {"approval": "while-suspended"}


def test_status_list_query_and_purge_through_the_sdk_client(dh: Client) -> None:
    iid = dh.start("chain", 1)
    dh.wait(iid)
    status = dh.client_op("status", iid).json()
    assert status["runtimeStatus"] == "Completed" and status["output"] == 1
    completed = dh.client_op("list", "x", status="Completed").json()
    assert iid in completed
    running = dh.http.get(f"{dh.base}{DURABLE}/instances", params={"runtimeStatus": "Running"}).json()
    assert iid not in [r["instanceId"] for r in running]
    assert dh.client_op("purge", iid).json() == 1
    assert dh.http.get(f"{dh.base}{DURABLE}/instances/{iid}").status_code == 404


def test_wait_for_completion_or_check_status(dh: Client) -> None:
    iid = dh.start("chain", 2)
    resp = requests.get(f"{dh.base}/api/client/wait/{iid}")
    assert resp.status_code == 200 and resp.json() == 2


def test_unknown_orchestrator_is_a_400_with_the_sdk_message(dh: Client) -> None:
    resp = dh.client_op("start", "x1", None, name="no_such_orchestrator")
    assert resp.status_code == 409 and "doesn't exist" in resp.json()["error"]


def test_parallel_retries_keep_task_ids_in_step_with_the_sdk(dh: Client) -> None:
    file = f"par-{uuid.uuid4().hex}.jsonl"
    st = dh.wait(dh.start("parallel_retries", file), timeout=30)
    assert st["runtimeStatus"] == "Completed", st
    assert st["output"] == {"all": ["ok after 2", "ok after 4", 42], "after": 4, "any": "ok after 2"}
