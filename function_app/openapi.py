"""The OpenAPI 3 document for the app's ``/api`` routes, served at ``GET /api/openapi.json``.

``tests/trust/test_openapi.py`` checks it names every HTTP function and runs schemathesis against it (slow).
"""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df
import azure.functions as func

bp = df.Blueprint()

_ERROR = {"description": "refused; `error` says why", "content": {"application/json": {"schema": {
    "type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}}}}
_PAGE = {"description": "an HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
_RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 200}}
_KEY = [{"functionKey": []}]
_SESSION = [{"dashboardSession": []}]
_VIA_DOOR = {"description": "`?code=` given: through /api/dashboard/open first"}
_SIGN_IN = {"description": "no valid session: how to open the dashboard", **_PAGE}


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema or {"type": "object"}}}}


def document() -> dict[str, Any]:
    link_params = [_RUN_ID, {"name": "decision", "in": "path", "required": True,
                             "schema": {"type": "string", "enum": ["approve", "reject"]}},
                   *({"name": n, "in": "query", "required": True, "schema": {"type": "string", "maxLength": 300}}
                     for n in ("v", "d", "exp", "sig"))]
    page_answers = {str(code): _PAGE for code in (200, 202, 302, 403, 410, 503)}
    control_params = [_RUN_ID, {"name": "action", "in": "path", "required": True,
                                "schema": {"type": "string", "enum": ["pause", "resume", "abort"]}},
                      *({"name": n, "in": "query", "required": True, "schema": {"type": "string", "maxLength": 300}}
                        for n in ("exp", "sig"))]
    control_answers = {str(code): _PAGE for code in (200, 202, 403, 410)}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Model Factory", "version": "1",
                 "description": "Runs, their status and lineage, signed approval links and fleet rollout controls."},
        "components": {"securitySchemes": {
            "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
            "dashboardSession": {"type": "apiKey", "in": "cookie", "name": "factory_session"}}},
        "paths": {
            "/api/runs": {
                "post": {"summary": "start a run on a blob of incoming/<model>/", "security": _KEY,
                         "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                         "schema": {"type": "string", "maxLength": 200}}],
                         "requestBody": {"required": True, "content": {"application/json": {"schema": {
                             "type": "object", "required": ["model", "data"], "properties": {
                                 "model": {"type": "string"}, "data": {"type": "string"},
                                 "idempotency_key": {"type": "string"}}}}}},
                         "responses": {"202": _json("started (or already started): its id and status URL"),
                                       "400": _ERROR, "401": {"description": "no or wrong function key"},
                                       "413": _ERROR, "415": _ERROR,
                                       "422": {**_ERROR, "description": "the Idempotency-Key started another "
                                                                        "request's run, named in `error`"}}},
                "get": {"summary": "every run with its stage, result and lineage", "security": _KEY,
                        "responses": {"200": _json("the runs"), "401": {"description": "no or wrong key"}}}},
            "/api/runs/{run_id}": {"get": {
                "summary": "one run: stage, lineage, pending approval (never its links)", "security": _KEY,
                "parameters": [_RUN_ID], "responses": {"200": _json("the run"), "404": _ERROR,
                                                       "401": {"description": "no or wrong key"}}}},
            "/api/runs/{run_id}/approval-links": {"get": {
                "summary": "the pending approval's signed links (admin key)", "security": _KEY,
                "parameters": [_RUN_ID], "responses": {"200": _json("the links"), "404": _ERROR, "409": _ERROR,
                                                       "401": {"description": "no or wrong (admin) key"}}}},
            "/api/approvals/{run_id}/{decision}": {
                "get": {"summary": "the confirmation page of a signed link", "parameters": link_params,
                        "responses": page_answers},
                "post": {"summary": "decide through a signed link", "parameters": link_params,
                         "responses": page_answers}},
            "/api/runs/{run_id}/rollout-links": {"get": {
                "summary": "signed pause / resume / abort links of the run's running fleet rollout (admin key)",
                "security": _KEY, "parameters": [_RUN_ID],
                "responses": {"200": _json("the links"), "409": _ERROR,
                              "401": {"description": "no or wrong (admin) key"}}}},
            "/api/rollouts/{run_id}/{action}": {
                "get": {"summary": "the confirmation page of a signed rollout control link",
                        "parameters": control_params, "responses": control_answers},
                "post": {"summary": "pause, resume or abort a fleet rollout through a signed link",
                         "parameters": control_params, "responses": control_answers}},
            "/api/dashboard/open": {"get": {
                "summary": "start a dashboard session (a signed HttpOnly cookie) and go on without the key",
                "security": _KEY, "parameters": [{"name": "next", "in": "query", "required": False,
                                                  "schema": {"type": "string", "maxLength": 300}}],
                "responses": {"303": {"description": "the session cookie, and on to the dashboard"},
                              "401": {"description": "no or wrong key"}}}},
            "/api/dashboard/enter": {"get": {
                "summary": "start a dashboard session from a signed session token (the CLI's link)",
                "parameters": [{"name": n, "in": "query", "required": n == "t",
                                "schema": {"type": "string", "maxLength": 300}} for n in ("t", "next")],
                "responses": {"303": {"description": "the session cookie, and on to the dashboard"},
                              "401": _SIGN_IN}}},
            "/api/dashboard": {"get": {"summary": "the runs as a page, filtered", "security": _SESSION, "parameters": [
                {"name": f, "in": "query", "required": False, "schema": {"type": "string"}}
                for f in ("model", "result", "stage")],
                                       "responses": {"200": _PAGE, "303": _VIA_DOOR, "401": _SIGN_IN}}},
            "/api/dashboard/runs/{run_id}": {"get": {
                "summary": "one run: stage timeline, lineage chain, model card", "security": _SESSION,
                "parameters": [_RUN_ID], "responses": {"200": _PAGE, "303": _VIA_DOOR, "404": _PAGE,
                                                       "401": _SIGN_IN}}},
            "/api/dashboard/models/{model}": {"get": {
                "summary": "one model: versions, production, gate-metric trend", "security": _SESSION,
                "parameters": [{"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _PAGE, "303": _VIA_DOOR, "404": _PAGE, "401": _SIGN_IN}}},
            "/api/dashboard/approvals": {"get": {"summary": "the approvals waiting, with time left",
                                                 "security": _SESSION,
                                                 "responses": {"200": _PAGE, "303": _VIA_DOOR,
                                                               "401": _SIGN_IN}}},
            "/api/dashboard/fleet": {"get": {"summary": "every device: ring, architecture, desired and reported "
                                                        "version, health, last report", "security": _SESSION,
                                             "responses": {"200": _PAGE, "303": _VIA_DOOR, "401": _SIGN_IN,
                                                           "503": _PAGE}}},
            "/api/openapi.json": {"get": {"summary": "this document",
                                          "responses": {"200": _json("OpenAPI 3 document")}}},
        },
    }


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    """``GET /api/openapi.json``: this app's HTTP API."""
    return func.HttpResponse(json.dumps(document()), mimetype="application/json")
