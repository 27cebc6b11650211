"""A Durable Functions app in the shapes of the published Python v2 samples: an app object not named `app`,
functions on a blueprint, an HTTP starter answering `create_check_status_response`, function chaining, fan-out /
fan-in, human interaction with a timer, a monitor; plus an output binding devhost does not implement."""

from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func
from blueprint import bp

myApp = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
myApp.register_functions(bp)


@myApp.route(route="orchestrators/{functionName}")
@myApp.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(req.route_params["functionName"], None, req.get_json() if body else None)
    return client.create_check_status_response(req, instance_id)


@myApp.orchestration_trigger(context_name="context")
def fan_out_fan_in(context: df.DurableOrchestrationContext):
    items = yield context.call_activity("work_items", context.get_input() or 5)
    squares = yield context.task_all([context.call_activity("square", i) for i in items])
    return sum(squares)


@myApp.orchestration_trigger(context_name="context")
def approval_workflow(context: df.DurableOrchestrationContext):
    request = context.get_input()
    yield context.call_activity("request_approval", request)
    deadline = context.current_utc_datetime + timedelta(seconds=request["timeout_seconds"])
    timer = context.create_timer(deadline)
    approval = context.wait_for_external_event("Approval")
    winner = yield context.task_any([approval, timer])
    if winner == approval:
        timer.cancel()
        return f"Approved: {approval.result}"
    return "Timed out"


@myApp.orchestration_trigger(context_name="context")
def monitor(context: df.DurableOrchestrationContext):
    job = context.get_input()
    expiry = context.current_utc_datetime + timedelta(seconds=job["expiry_seconds"])
    attempt = 0
    while context.current_utc_datetime < expiry:
        attempt += 1
        status = yield context.call_activity("job_status", {"attempt": attempt, "done_after": job["done_after"]})
        if status == "Completed":
            return {"status": status, "polls": attempt}
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=job["interval_seconds"]))
    return {"status": "Expired", "polls": attempt}


@myApp.orchestration_trigger(context_name="context")
def waits_forever(context: df.DurableOrchestrationContext):
    return (yield context.wait_for_external_event("go"))


@myApp.orchestration_trigger(context_name="context")
def fails(context: df.DurableOrchestrationContext):
    raise ValueError("this orchestration fails on purpose")


@myApp.route(route="outbox", methods=["POST"])
@myApp.queue_output(arg_name="msg", queue_name="%OUTBOX_QUEUE%", connection="AzureWebJobsStorage")
def enqueue(req: func.HttpRequest, msg: func.Out[str]) -> func.HttpResponse:
    msg.set(req.get_body().decode())
    return func.HttpResponse("queued", status_code=202)


@myApp.route(route="entity/{op}")
@myApp.durable_client_input(client_name="client")
async def entity_client(req: func.HttpRequest, client) -> func.HttpResponse:
    """What the SDK client makes of devhost's entity routes (devhost has no Durable Entities)."""
    entity = df.EntityId("counter", "k1")
    try:
        if req.route_params["op"] == "read":
            await client.read_entity_state(entity)
        else:
            await client.signal_entity(entity, "add", 1)
    except Exception as exc:  # noqa: BLE001 - the exception the SDK raises is the answer
        return func.HttpResponse(f"{type(exc).__name__}: {exc}", status_code=501)
    return func.HttpResponse("no error", status_code=200)
