"""The edge activities as the replay driver calls them: the same calls ``function_app/edge.py`` makes, on a
given ``EdgeSmokeService`` (function_app's own go through the process-wide services)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from factory.edge.service import EdgeSmokeService


def edge_activities(service: EdgeSmokeService) -> dict[str, Callable[[Any], Any]]:
    return {
        "edge_lease": lambda req: service.lease(req["run_id"], float(req["ttl_seconds"])),
        "edge_release": lambda req: service.release(req["run_id"]) or {"released": True},
        "edge_snapshot": lambda _req: service.snapshot(),
        "edge_deploy": service.deploy,
        "edge_read_report": lambda req: service.read_report(req["run_id"]),
        "edge_restore": lambda req: service.restore(req["content"]) or {"restored": True},
    }
