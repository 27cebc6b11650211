"""Edge smoke test activities (bindings only): each calls one ``EdgeSmokeService`` method, payloads as
``contract`` records.

The ``edge_smoke`` sub-orchestration (``orchestrations/edge_smoke.py``) calls them. Importing this module has
no side effects: services are built on the first activity call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.durable_functions as df

from contract import (
    EdgeDeviceRequest,
    EdgeLeaseRequest,
    EdgePlanRequest,
    EdgeReleased,
    EdgeRestored,
    EdgeRestoreRequest,
    EdgeSmokeRequest,
)

if TYPE_CHECKING:
    from factory.edge.service import EdgeSmokeService

bp = df.Blueprint()


def _service(device: str) -> EdgeSmokeService:
    from factory.backends import services
    from factory.edge.service import EdgeSmokeService

    svc = services()
    return EdgeSmokeService(svc.edge_device(device or ""), svc.settings)


@bp.activity_trigger(input_name="req")
def edge_devices(req: dict) -> dict:
    """The pool devices to smoke-test ``image`` on: one per architecture of its index; none (``refused``) unless
    the factory's signature of the image verifies (``factory.supplychain.policy.require_signature``)."""
    from factory.backends import services
    from factory.edge.pool import plan
    from factory.supplychain.policy import signature_check

    svc = services()
    check = signature_check(svc.signer.public_key_pem(), svc.image_registry.artifacts)
    return plan(svc.settings, EdgePlanRequest.from_dict(req).image, svc.image_registry.manifest, check).to_dict()


@bp.activity_trigger(input_name="req")
def edge_lease(req: dict) -> dict:
    """Take (or renew) the smoke-test device for this run; ``acquired`` is false while another run holds it."""
    lease = EdgeLeaseRequest.from_dict(req)
    return _service(lease.device).lease(lease.run_id, float(lease.ttl_seconds)).to_dict()


@bp.activity_trigger(input_name="req")
def edge_release(req: dict) -> dict:
    """Give the smoke-test device back."""
    device = EdgeDeviceRequest.from_dict(req)
    _service(device.device).release(device.run_id)
    return EdgeReleased().to_dict()


@bp.activity_trigger(input_name="req")
def edge_snapshot(req: dict) -> dict:
    """The smoke-test device's current modules content, to restore afterwards."""
    return _service(EdgeDeviceRequest.from_dict(req).device).snapshot()


@bp.activity_trigger(input_name="req")
def edge_deploy(req: dict) -> dict:
    """Deploy the model module and the smoke module for one run."""
    smoke = EdgeSmokeRequest.from_dict(req)
    return _service(smoke.device).deploy(smoke).to_dict()


@bp.activity_trigger(input_name="req")
def edge_read_report(req: dict) -> dict:
    """The smoke module's verdict for the run, if it reported one."""
    device = EdgeDeviceRequest.from_dict(req)
    return _service(device.device).read_report(device.run_id).to_dict()


@bp.activity_trigger(input_name="req")
def edge_restore(req: dict) -> dict:
    """Put back the deployment the device had before the smoke test."""
    restore = EdgeRestoreRequest.from_dict(req)
    _service(restore.device).restore(restore.content)
    return EdgeRestored().to_dict()
