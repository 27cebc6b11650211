"""The edge activities as the replay driver calls them: the same calls ``function_app/edge.py`` makes (records
in, records out, dicts on the wire), on a given ``EdgeSmokeService`` (function_app's own go through the
process-wide services)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contract import (
    EdgeDeviceRequest,
    EdgeLeaseRequest,
    EdgeReleased,
    EdgeRestored,
    EdgeRestoreRequest,
    EdgeSmokeRequest,
)
from factory.edge.service import EdgeSmokeService


def edge_activities(service: EdgeSmokeService) -> dict[str, Callable[[Any], Any]]:
    def lease(req: dict[str, Any]) -> dict[str, Any]:
        asked = EdgeLeaseRequest.from_dict(req)
        return service.lease(asked.run_id, float(asked.ttl_seconds)).to_dict()

    def release(req: dict[str, Any]) -> dict[str, Any]:
        service.release(EdgeDeviceRequest.from_dict(req).run_id)
        return EdgeReleased().to_dict()

    def restore(req: dict[str, Any]) -> dict[str, Any]:
        service.restore(EdgeRestoreRequest.from_dict(req).content)
        return EdgeRestored().to_dict()

    return {
        "edge_lease": lease,
        "edge_release": release,
        "edge_snapshot": lambda _req: service.snapshot(),
        "edge_deploy": lambda req: service.deploy(EdgeSmokeRequest.from_dict(req)).to_dict(),
        "edge_read_report": lambda req: service.read_report(EdgeDeviceRequest.from_dict(req).run_id).to_dict(),
        "edge_restore": restore,
    }
