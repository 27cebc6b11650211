"""devhost's own test Functions app: one of each trigger and every Durable action type."""

import json
import os
import time
from datetime import timedelta
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _out_dir() -> Path:
    path = Path(os.environ.get("DEVHOST_TEST_OUT", "/tmp/devhost-test-out"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _append(name: str, line: str) -> None:
    with (_out_dir() / name).open("a") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


# ---- HTTP ---------------------------------------------------------------------------------------------------
@app.route(route="hello/{name}/{count:int?}", methods=["GET"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    body = {"name": req.route_params.get("name"), "count": req.route_params.get("count"),
            "q": req.params.get("q"), "setting": os.environ.get("DEVHOST_TEST_SETTING"),
            "hostname": os.environ.get("WEBSITE_HOSTNAME")}
    return func.HttpResponse(json.dumps(body), status_code=200, mimetype="application/json",
                             headers={"X-Devhost-Test": "yes"})


@app.route(route="echo", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.get_body(), status_code=201, mimetype="text/plain")


@app.route(route="admin-only", auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin ok")


@app.route(route="orchestrators/{name}/{instance_id?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_orchestration(req: func.HttpRequest, client) -> func.HttpResponse:
    body = req.get_body()
    payload = json.loads(body) if body else None
    instance_id = await client.start_new(req.route_params["name"], req.route_params.get("instance_id"), payload)
    return client.create_check_status_response(req, instance_id)


@app.route(route="client/{op}/{instance_id}", methods=["POST", "GET"])
@app.durable_client_input(client_name="client")
async def client_ops(req: func.HttpRequest, client) -> func.HttpResponse:
    """Drives DurableOrchestrationClient methods so tests exercise the SDK client against devhost."""
    op, iid = req.route_params["op"], req.route_params["instance_id"]
    try:
        if op == "raise":
            await client.raise_event(iid, req.params["event"], json.loads(req.get_body() or b"null"))
            result = "raised"
        elif op == "status":
            status = await client.get_status(iid, show_history=req.params.get("history") == "1")
            result = status.to_json() if status else None
            if status and status.history is not None:
                result["history"] = status.history
            if status and getattr(status, "historyEvents", None) is not None:
                result["historyEvents"] = status.historyEvents
        elif op == "terminate":
            await client.terminate(iid, req.params.get("reason", "test"))
            result = "terminated"
        elif op == "suspend":
            await client.suspend(iid, "test")
            result = "suspended"
        elif op == "resume":
            await client.resume(iid, "test")
            result = "resumed"
        elif op == "purge":
            result = (await client.purge_instance_history(iid)).instances_deleted
        elif op == "start":
            result = await client.start_new(req.params["name"], iid, json.loads(req.get_body() or b"null"))
        elif op == "list":
            statuses = await client.get_status_by(runtime_status=[
                df.OrchestrationRuntimeStatus(s) for s in req.params.get("status", "").split(",") if s] or None)
            result = sorted(s.instance_id for s in statuses)
        elif op == "wait":
            return await client.wait_for_completion_or_create_check_status_response(req, iid, 5000, 100)
        else:
            return func.HttpResponse(f"unknown op {op}", status_code=400)
    except Exception as exc:  # surface the SDK's exception text to the test
        return func.HttpResponse(json.dumps({"error": str(exc)}), status_code=409, mimetype="application/json")
    return func.HttpResponse(json.dumps(result, default=str), mimetype="application/json")


# ---- activities -------------------------------------------------------------------------------------------------
@app.activity_trigger(input_name="value")
def noop(value):
    return value


@app.activity_trigger(input_name="value")
def double(value: int) -> int:
    return value * 2


@app.activity_trigger(input_name="value")
async def async_upper(value: str) -> str:
    return value.upper()


@app.activity_trigger(input_name="req")
def record(req: dict) -> str:
    """Appends one line to the file `req["file"]`: counts how many times each activity body ran."""
    _append(req["file"], json.dumps({"key": req["key"], "t": time.time()}))
    if req.get("sleep"):
        time.sleep(req["sleep"])
    return req["key"]


@app.activity_trigger(input_name="req")
def flaky(req: dict) -> str:
    """Fails until it has been called `fail_times` times for `key`, recording each call's time."""
    _append(req["file"], json.dumps({"key": req["key"], "t": time.time()}))
    calls = sum(1 for line in (_out_dir() / req["file"]).read_text().splitlines()
                if json.loads(line)["key"] == req["key"])
    if calls <= req["fail_times"]:
        raise ValueError(f"flaky failure {calls}")
    return f"ok after {calls}"


@app.activity_trigger(input_name="seconds")
def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


# ---- orchestrators -----------------------------------------------------------------------------------------------
@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    n = context.get_input() or 3
    total = 0
    for i in range(n):
        total += yield context.call_activity("noop", 1)
    return total


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    n = context.get_input() or 10
    results = yield context.task_all([context.call_activity("double", i) for i in range(n)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def hello_sequence(context: df.DurableOrchestrationContext):
    a = yield context.call_activity("async_upper", "tokyo")
    b = yield context.call_activity(noop, "seattle")
    context.set_custom_status({"stage": "done"})
    return [a, b]


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    req = context.get_input()
    opts = df.RetryOptions(first_retry_interval_in_milliseconds=req["first_ms"],
                           max_number_of_attempts=req["attempts"])
    try:
        result = yield context.call_activity_with_retry("flaky", opts, req)
    except Exception as exc:
        return {"failed": str(exc)[:300]}
    return {"result": result}


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    req = context.get_input()
    out = yield context.call_sub_orchestrator("child", req.get("value", 1))
    try:
        yield context.call_sub_orchestrator("failing_child", None, f"{context.instance_id}-failing")
    except Exception as exc:
        return {"child": out, "failure": str(exc)[:300]}
    return {"child": out, "failure": None}


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext):
    value = context.get_input()
    doubled = yield context.call_activity("double", value)
    return {"doubled": doubled, "parent": context.parent_instance_id}


@app.orchestration_trigger(context_name="context")
def failing_child(context: df.DurableOrchestrationContext):
    yield context.call_activity("noop", 1)
    raise RuntimeError("child exploded")


@app.orchestration_trigger(context_name="context")
def sub_with_retry(context: df.DurableOrchestrationContext):
    opts = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=3)
    try:
        yield context.call_sub_orchestrator_with_retry("failing_child", opts, None)
    except Exception as exc:
        return {"failed": str(exc)[:200]}
    return {"failed": None}


@app.orchestration_trigger(context_name="context")
def wait_event(context: df.DurableOrchestrationContext):
    req = context.get_input() or {}
    if req.get("work_first"):
        yield context.call_activity("sleep_for", req["work_first"])
    value = yield context.wait_for_external_event("approval")
    return {"approval": value}


@app.orchestration_trigger(context_name="context")
def race(context: df.DurableOrchestrationContext):
    seconds = context.get_input()
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=seconds))
    event = context.wait_for_external_event("go")
    winner = yield context.task_any([timer, event])
    if winner == event:
        timer.cancel()
        return {"winner": "event", "value": event.result}
    return {"winner": "timer"}


@app.orchestration_trigger(context_name="context")
def timer_only(context: df.DurableOrchestrationContext):
    seconds = context.get_input()
    start = context.current_utc_datetime
    yield context.create_timer(start + timedelta(seconds=seconds))
    return (context.current_utc_datetime - start).total_seconds()


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    n = context.get_input() or 0
    context.set_custom_status({"n": n})
    if n >= 3:
        return n
    yield context.call_activity("noop", n)
    context.continue_as_new(n + 1)


@app.orchestration_trigger(context_name="context")
def deterministic(context: df.DurableOrchestrationContext):
    g1 = str(context.new_guid())
    t1 = context.current_utc_datetime.isoformat()
    yield context.call_activity("noop", 0)
    g2 = str(context.new_guid())
    _append(context.get_input(), json.dumps({"g1": g1, "t1": t1, "g2": g2, "replaying": context.is_replaying}))
    return {"g1": g1, "t1": t1, "g2": g2}


@app.orchestration_trigger(context_name="context")
def crashy(context: df.DurableOrchestrationContext):
    """Chained + fanned-out `record` activities, each appending to a file; for the SIGKILL test."""
    req = context.get_input()
    keys = []
    for i in range(req["chain"]):
        keys.append((yield context.call_activity("record", {"file": req["file"], "key": f"c{i}",
                                                             "sleep": req.get("sleep", 0)})))
    fan = yield context.task_all([context.call_activity("record", {"file": req["file"], "key": f"f{i}",
                                                                   "sleep": req.get("sleep", 0)})
                                  for i in range(req["fan"])])
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=req.get("timer", 0.5)))
    return keys + fan


@app.orchestration_trigger(context_name="context")
def broken(context: df.DurableOrchestrationContext):
    yield context.call_activity("noop", 1)
    raise ValueError("orchestrator bug")


@app.orchestration_trigger(context_name="context")
def activity_fails(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("flaky", {"file": context.get_input(), "key": "once", "fail_times": 5})
    except Exception as exc:
        return str(exc)[:300]
    return "no failure"


# ---- Event Grid --------------------------------------------------------------------------------------------------
def _record_event(name: str, event) -> None:
    if isinstance(event, func.EventGridEvent):
        row = {"id": event.id, "type": event.event_type, "subject": event.subject, "data": event.get_json()}
    else:
        row = {"id": event.id, "type": event.type, "subject": event.subject, "data": event.get_json(), "cloud": True}
    _append(f"eg-{name}.jsonl", json.dumps(row))


@app.event_grid_trigger(arg_name="event")
def on_blob_created(event: func.EventGridEvent) -> None:
    _record_event("on_blob_created", event)


@app.event_grid_trigger(arg_name="event")
def on_run_status(event: func.EventGridEvent) -> None:
    _record_event("on_run_status", event)


@app.event_grid_trigger(arg_name="event")
def on_flaky(event: func.EventGridEvent) -> None:
    _record_event("on_flaky", event)
    calls = len((_out_dir() / "eg-on_flaky.jsonl").read_text().splitlines())
    if calls < (event.get_json() or {}).get("succeed_on", 99):
        raise RuntimeError(f"on_flaky failure {calls}")


@app.event_grid_trigger(arg_name="event")
@app.durable_client_input(client_name="client")
async def start_from_event(event: func.EventGridEvent, client) -> None:
    """As the factory's BlobCreated handler does: an Event Grid event starts an orchestration."""
    data = event.get_json()
    await client.start_new("chain", data["instance_id"], data["n"])


@app.orchestration_trigger(context_name="context")
def parallel_retries(context: df.DurableOrchestrationContext):
    """Retries interleaved with other tasks: the host must allocate task ids exactly as the SDK does."""
    file = context.get_input()
    opts = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=4)
    a = context.call_activity_with_retry("flaky", opts, {"file": file, "key": "a", "fail_times": 1})
    b = context.call_activity_with_retry("flaky", opts, {"file": file, "key": "b", "fail_times": 3})
    c = context.call_activity("double", 21)
    t = context.create_timer(context.current_utc_datetime + timedelta(milliseconds=100))
    results = yield context.task_all([a, b, c, t])
    after = yield context.call_activity("double", 2)
    first = yield context.task_any([context.call_activity_with_retry("flaky", opts, {"file": file, "key": "d",
                                                                                     "fail_times": 1}),
                                    context.create_timer(context.current_utc_datetime + timedelta(seconds=30))])
    return {"all": results[:3], "after": after, "any": first.result}
