"""A Functions app of the fleet rollout only: the real ``fleet_rollout`` orchestrator and its activities
(``function_app.rollout``), on the backend the FACTORY_* settings choose (devhost passes its environment)."""

import azure.durable_functions as df
import azure.functions as func

from function_app.rollout import bp as rollout

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(rollout)
