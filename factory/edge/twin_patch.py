# pyright: strict
"""JSON merge patch (RFC 7396) as IoT Hub applies twin patches: pure, shared by the local fleet's simulated hub
(``factory.adapters.local.fleet``) and the edge simulator's module twins (``localstack.edge_twins``)."""

from __future__ import annotations

import copy
from typing import Any, cast


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``target`` with ``patch`` merged in, as a new dict: ``None`` deletes a key, an object merges into an
    object, anything else replaces (deep-copied, so the result shares no mutable part with ``patch``)."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_patch(cast(dict[str, Any], result[key]), cast(dict[str, Any], value))
        else:
            result[key] = copy.deepcopy(cast(object, value))
    return result
