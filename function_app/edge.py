"""Edge smoke test activities (bindings only): each calls one ``EdgeSmokeService`` method.

The ``edge_smoke`` sub-orchestration (``orchestrations/edge_smoke.py``) calls them. Importing this module has
no side effects: services are built on the first activity call.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

bp = df.Blueprint()


def _service(req: dict | None = None) -> Any:
    from factory.backends import services
    from factory.edge.service import EdgeSmokeService

    svc = services()
    return EdgeSmokeService(svc.edge_device(str((req or {}).get("device") or "")), svc.settings)


@bp.activity_trigger(input_name="req")
def edge_devices(req: dict) -> dict:
    """The pool devices to smoke-test ``image`` on: one per architecture of its index."""
    from factory.backends import services
    from factory.edge.pool import plan

    return plan(services().settings, req["image"])


@bp.activity_trigger(input_name="req")
def edge_lease(req: dict) -> dict:
    """Take (or renew) the smoke-test device for this run; ``acquired`` is false while another run holds it."""
    return _service(req).lease(req["run_id"], float(req["ttl_seconds"]))


@bp.activity_trigger(input_name="req")
def edge_release(req: dict) -> dict:
    """Give the smoke-test device back."""
    _service(req).release(req["run_id"])
    return {"released": True}


@bp.activity_trigger(input_name="req")
def edge_snapshot(req: dict) -> dict:
    """The smoke-test device's current modules content, to restore afterwards."""
    return _service(req).snapshot()


@bp.activity_trigger(input_name="req")
def edge_deploy(req: dict) -> dict:
    """Deploy the model module and the smoke module for one run."""
    return _service(req).deploy(req)


@bp.activity_trigger(input_name="req")
def edge_read_report(req: dict) -> dict:
    """The smoke module's verdict for the run, if it reported one."""
    return _service(req).read_report(req["run_id"])


@bp.activity_trigger(input_name="req")
def edge_restore(req: dict) -> dict:
    """Put back the deployment the device had before the smoke test."""
    _service(req).restore(req["content"])
    return {"restored": True}
