"""devhost: run an Azure Functions Python v2 app (with Durable Functions) locally, crash-safe, through the real
`azure-functions` and `azure-functions-durable` SDKs. See docs/devhost.md."""

from .server import DevHost, LaunchedHost, launch, wait_until_up

__all__ = ["DevHost", "LaunchedHost", "launch", "wait_until_up"]
