"""Orchestrator bindings: the generator functions live in ``orchestrations/``."""

import azure.durable_functions as df

from orchestrations.approval import approval
from orchestrations.edge_pool import edge_pool_smoke
from orchestrations.edge_smoke import edge_smoke
from orchestrations.run import model_factory_run

bp = df.Blueprint()

for orchestrator in (model_factory_run, edge_pool_smoke, edge_smoke, approval):
    bp.orchestration_trigger(context_name="context")(orchestrator)
