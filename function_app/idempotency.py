"""What ``POST /api/runs`` answers beyond starting the run: a reused ``Idempotency-Key`` checked against the
request that first used it, and the accepted reply pointing at the project's own status API.

The reply never carries Durable's management URLs (``create_check_status_response``): those hold the
Durable system key, which can terminate, purge or rewind any instance, and a function-key holder (CI) must
get no more than the run status API gives it (docs/security.md, key table).
"""

from __future__ import annotations

import json
import urllib.parse

import azure.durable_functions as df
import azure.functions as func

from contract import RunRequest, unwrap_json
from factory import lookups
from factory.runs import run_id_for_key
from function_app.starter import RUN_ORCHESTRATOR


async def key_conflict(client: df.DurableOrchestrationClient, run: RunRequest, key: str,
                       commit_given: bool) -> str | None:
    """Why ``run`` may not be answered with the run its key started first (a different model, data or commit),
    or None: no run used the key yet, or the same request did (answered with that run, as before)."""
    for model in sorted({run.model, *lookups.known_models()}):
        status = await client.get_status(run_id_for_key(model, key), show_input=True)
        if not status or status.runtime_status is None or status.name != RUN_ORCHESTRATOR:
            continue
        first = RunRequest.maybe(unwrap_json(status.input_))
        asked: dict[str, str | None] = {"model": run.model, "data_uri": run.data_uri}
        had: dict[str, str | None] = ({"model": first.model, "data_uri": first.data_uri} if first
                                      else {"model": None, "data_uri": None})
        if commit_given:
            asked["source_commit"], had["source_commit"] = run.source_commit, first.source_commit if first else None
        if asked != had:
            differ = ", ".join(k for k in asked if asked[k] != had[k])
            return (f"Idempotency-Key was used for run {status.instance_id} with another request ({differ} "
                    "differ); use a new key for a new run")
        return None
    return None


def accepted(req: func.HttpRequest, run_id: str) -> func.HttpResponse:
    """202 with the run's id and its status URL in the project's own API (``GET /api/runs/{id}``)."""
    parts = urllib.parse.urlsplit(req.url)
    status_url = f"{parts.scheme}://{parts.netloc}/api/runs/{urllib.parse.quote(run_id, safe='')}"
    body = {"id": run_id, "statusQueryGetUri": status_url}
    return func.HttpResponse(json.dumps(body), status_code=202, mimetype="application/json",
                             headers={"Location": status_url, "Cache-Control": "no-store"})
