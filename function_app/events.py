"""Event Grid triggers: data arrival, AML model registration and run failures, ACR pushes.

Subscriptions (event types and subject filters) are declared once in ``infra/eventgrid-subscriptions.json``.
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from contract import Event, ImagePushedEvent, ModelRegisteredEvent, RunRequest, TrainingFailedEvent
from factory import events, lookups
from factory.runs import INCOMING_CONTAINER, UPLOAD_SUFFIXES, blob_in_subject, is_upload, model_of_blob, run_id_for_blob
from function_app.starter import raise_on_run, start_run_once

bp = df.Blueprint()
log = logging.getLogger("function_app")


def _data(event: func.EventGridEvent) -> dict:
    """An event's ``data`` when it is an object, else ``{}`` (a malformed event is ignored, not retried)."""
    try:
        data = event.get_json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def on_blob_created(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    """An upload (a CSV or an image archive) landed in ``incoming/<model>/...``: start that model's run (once
    per blob version); whether it suits the model's ``data.kind`` is the validate step's to say.

    The blob is the one the subject names in the configured account; an event whose ``data.url`` names
    another host, account or blob is refused (the factory reads data from nowhere else)."""
    data = _data(event)
    where = blob_in_subject(event.subject or "")
    if where is None or where[0] != INCOMING_CONTAINER or not is_upload(where[1]):
        log.info("ignored blob event %s: not a %s in the %s container", event.subject,
                 " / ".join(UPLOAD_SUFFIXES), INCOMING_CONTAINER)
        return
    model, known = model_of_blob(where[1]), lookups.known_models()
    if model is None or model not in known:
        log.info("ignored blob %s: %r is not a known model (%s)", where[1], model, ", ".join(sorted(known)))
        return
    url, etag = lookups.incoming_blob_url(where[1]), data.get("eTag")
    if url is None or not isinstance(etag, str) or not etag:
        log.warning("refused blob event %s: not a plain blob name, or no eTag", event.subject)
        return
    if not lookups.same_blob(data.get("url"), url):
        log.warning("refused blob event %s: its data.url %.200r is not %s (the watched account)", event.subject,
                    data.get("url"), url)
        return
    run = RunRequest(run_id=run_id_for_blob(model, url, etag), model=model, data_uri=url, data_etag=etag,
                     trigger="blob", source_commit=lookups.source_commit())
    await start_run_once(client, run)


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def on_model_registered(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    """AML registered a model version: hand it to the run named in its tags."""
    registered = events.model_registration(_data(event))
    if registered is None:
        log.info("ignored ModelRegistered %s: no run_id tag (not registered by the factory)", event.subject)
        return
    model = ModelRegisteredEvent(name=registered["name"], version=registered["version"], tags=registered["tags"])
    await raise_on_run(client, registered["run_id"], Event.MODEL_REGISTERED, model.to_dict())


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def on_run_status_changed(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    """An AML run changed status: if a factory run's training failed, tell the run waiting for its model.
    (The subscription has no status filter: the docs and the SDKs disagree on the field's casing.)"""
    failure = events.training_failure(_data(event))
    if failure is None:
        log.info("ignored RunStatusChanged %s: not a failed factory training", event.subject)
        return
    await raise_on_run(client, failure["run_id"], Event.TRAINING_FAILED,
                       TrainingFailedEvent(status="Failed", error=failure["error"]).to_dict())


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def on_image_pushed(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    """The dev registry stored an image: its tag is the run id that built it."""
    target = _data(event).get("target")
    target = target if isinstance(target, dict) else {}
    tag = target.get("tag")
    if not isinstance(tag, str) or not tag:
        log.info("ignored ImagePushed %s: no tag", event.subject)
        return
    pushed = ImagePushedEvent(repository=str(target.get("repository") or ""), tag=tag,
                              digest=str(target.get("digest") or ""))
    await raise_on_run(client, tag, Event.IMAGE_PUSHED, pushed.to_dict())
