"""Calling user functions the way the Python worker does: by parameter name, sync or async, with an optional
`context` argument."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any


class InvocationContext:
    """The `context` argument (azure.functions.Context attributes that apps read)."""

    def __init__(self, function_name: str, app_dir: Path) -> None:
        self.invocation_id = str(uuid.uuid4())
        self.function_name = function_name
        self.function_directory = str(app_dir)
        self.trace_context = None
        self.retry_context = None
        self.thread_local_storage = None


def input_binding_values(fn: Any, client_json: Callable[[], str] | None) -> dict[str, Any]:
    """Values for a function's non-trigger input bindings; devhost provides `durableClient` only. A function with a
    binding devhost does not implement is refused here, by name, rather than called without that argument."""
    if fn.unsupported:
        raise RuntimeError(f"devhost does not implement the {', '.join(fn.unsupported)} of function {fn.name}")
    values: dict[str, Any] = {}
    for b in fn.bindings:
        if b is fn.trigger or b.get("direction") != 0:
            continue
        if b["type"] == "durableClient" and client_json is not None:
            values[b["name"]] = client_json()
        else:
            raise RuntimeError(f"devhost does not support input binding type '{b['type']}' (function {fn.name}, "
                               f"parameter {b['name']})")
    return values


def _accepts(func: Any, name: str) -> bool:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def build_kwargs(func: Any, args: dict[str, Any], function_name: str, app_dir: Path) -> dict[str, Any]:
    """The keyword arguments for `func`: binding values plus `context` when the signature asks for it."""
    kwargs = dict(args)
    if _accepts(func, "context") and "context" not in kwargs:
        kwargs["context"] = InvocationContext(function_name, app_dir)
    return kwargs


def is_async(func: Any) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__wrapped__", None))


def call_from_thread(func: Any, kwargs: dict[str, Any], loop: asyncio.AbstractEventLoop | None) -> Any:
    """Call `func` from a worker thread; coroutines run on the host's event loop (as the worker runs them)."""
    result = func(**kwargs)
    if inspect.isawaitable(result):
        if loop is None or not loop.is_running():
            return asyncio.run(_await(result))
        return asyncio.run_coroutine_threadsafe(_await(result), loop).result()
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


async def call_on_loop(func: Any, kwargs: dict[str, Any]) -> Any:
    """Call `func` from the event loop: async functions are awaited, sync ones run in the default executor."""
    if is_async(func):
        return await func(**kwargs)
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(None, lambda: func(**kwargs))
    if inspect.isawaitable(result):
        result = await result
    return result
