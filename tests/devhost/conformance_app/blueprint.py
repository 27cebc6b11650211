"""Activities and one orchestrator on a blueprint, registered on the app in function_app.py (the samples' layout)."""

import azure.durable_functions as df

bp = df.Blueprint()


@bp.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    return f"Hello {city}!"


@bp.orchestration_trigger(context_name="context")
def hello_sequence(context: df.DurableOrchestrationContext):
    result = []
    for city in ("Tokyo", "Seattle", "London"):
        result.append((yield context.call_activity("say_hello", city)))
    return result


@bp.activity_trigger(input_name="count")
def work_items(count: int) -> list[int]:
    return list(range(1, count + 1))


@bp.activity_trigger(input_name="item")
def square(item: int) -> int:
    return item * item


@bp.activity_trigger(input_name="request")
def request_approval(request: dict) -> str:
    return f"approval requested for {request['who']}"


@bp.activity_trigger(input_name="poll")
def job_status(poll: dict) -> str:
    return "Completed" if poll["attempt"] >= poll["done_after"] else "Running"
