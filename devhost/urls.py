"""The Durable HTTP API's base path and the management URLs of one instance (the check-status payload)."""

from __future__ import annotations

from urllib.parse import quote

DURABLE = "/runtime/webhooks/durabletask"


def management_urls(base: str, hub: str, system_key: str, instance_id: str) -> dict[str, str]:
    """The check-status payload URLs (statusQueryGetUri, sendEventPostUri, ...) for one instance id."""
    root = f"{base}{DURABLE}/instances/{quote(instance_id, safe='')}"
    qs = f"taskHub={quote(hub)}&connection=Storage&code={quote(system_key)}"
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{root}?{qs}",
        "sendEventPostUri": f"{root}/raiseEvent/{{eventName}}?{qs}",
        "terminatePostUri": f"{root}/terminate?reason={{text}}&{qs}",
        "rewindPostUri": f"{root}/rewind?reason={{text}}&{qs}",
        "purgeHistoryDeleteUri": f"{root}?{qs}",
        "restartPostUri": f"{root}/restart?{qs}",
        "suspendPostUri": f"{root}/suspend?reason={{text}}&{qs}",
        "resumePostUri": f"{root}/resume?reason={{text}}&{qs}",
    }
