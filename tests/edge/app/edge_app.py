"""A tiny Functions app for testing the edge smoke sub-orchestration under devhost: the edge activities
blueprint, the ``edge_smoke`` orchestrator, and a parent that calls it as a sub-orchestration (as the run does)."""

import azure.durable_functions as df
import azure.functions as func

from function_app.edge import bp as edge_activities
from orchestrations.edge_smoke import edge_smoke

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(edge_activities)
app.orchestration_trigger(context_name="context")(edge_smoke)


@app.orchestration_trigger(context_name="context")
def edge_smoke_parent(context):
    """Calls edge_smoke as a sub-orchestration with the parent's input, returns its verdict."""
    request = context.get_input()
    verdict = yield context.call_sub_orchestrator("edge_smoke", request, f"{context.instance_id}-edge")
    return verdict
