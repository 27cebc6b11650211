"""The Model Factory Functions app (Python v2 programming model): bindings only.

Each module holds a ``df.Blueprint``: HTTP endpoints, Event Grid triggers, activities, orchestrators and
the edge activities. On Azure set ``PYTHON_SCRIPT_FILE_NAME=function_app`` (the worker imports the app by
that name's stem, and this is a package); devhost imports it with ``--app-module function_app``.
"""

import azure.durable_functions as df
import azure.functions as func

from function_app import (
    activities,
    approvals,
    dashboard,
    dashboard_session,
    edge,
    events,
    http,
    openapi,
    orchestrators,
    rollout,
)

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
for module in (http, approvals, dashboard, dashboard_session, openapi, events, activities, orchestrators, edge,
               rollout):
    app.register_functions(module.bp)
app.register_functions(rollout.links_bp)
