"""Import a Python v2 Functions app and index its functions by trigger type, as the Functions host does."""

from __future__ import annotations

import importlib
import logging
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("devhost")


@dataclass
class IndexedFunction:
    """One function of the app: its name, trigger binding and the callable the worker would invoke."""

    name: str
    trigger_type: str
    trigger: dict[str, Any]
    bindings: list[dict[str, Any]]
    func: Any

    def binding_names(self, binding_type: str) -> list[str]:
        return [b["name"] for b in self.bindings if b["type"] == binding_type]


@dataclass
class HttpRoute:
    """An HTTP-triggered function's route template compiled to a regex."""

    function: IndexedFunction
    template: str
    regex: re.Pattern[str]
    converters: dict[str, str]
    methods: set[str] | None
    auth_level: str


@dataclass
class AppIndex:
    """The app's functions grouped the way devhost dispatches to them."""

    functions: dict[str, IndexedFunction] = field(default_factory=dict)
    http_routes: list[HttpRoute] = field(default_factory=list)
    orchestrators: dict[str, IndexedFunction] = field(default_factory=dict)
    activities: dict[str, IndexedFunction] = field(default_factory=dict)
    eventgrid: dict[str, IndexedFunction] = field(default_factory=dict)


def _plain(value: Any) -> Any:
    """Enum members (AuthLevel, HttpMethod, BindingDirection) → their string value."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return getattr(value, "value", value)


_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+)(?:\([^)]*\))?)?(\?)?\}")


def compile_route(template: str) -> tuple[re.Pattern[str], dict[str, str]]:
    """Compile an ASP.NET-style route template (`runs/{id}`, `{name?}`, `{n:int}`, `{*rest}`) to a regex."""
    template = template.strip("/")
    pattern = ""
    converters: dict[str, str] = {}
    pos = 0
    for m in _PARAM.finditer(template):
        literal = template[pos:m.start()]
        catch_all, name, constraint, optional = m.group(1), m.group(2), m.group(3), m.group(4)
        if constraint:
            converters[name] = constraint.lower()
        body = {"int": r"-?\d+", "long": r"-?\d+", "bool": r"(?i:true|false)", "guid": r"[0-9a-fA-F-]{32,36}",
                "alpha": r"[A-Za-z]+"}.get((constraint or "").lower(), r".+" if catch_all else r"[^/]+")
        group = f"(?P<{name}>{body})"
        if optional or catch_all:
            if literal.endswith("/"):
                pattern += re.escape(literal[:-1]) + f"(?:/{group})?"
            else:
                pattern += re.escape(literal) + f"{group}?"
        else:
            pattern += re.escape(literal) + group
        pos = m.end()
    pattern += re.escape(template[pos:])
    return re.compile(f"^{pattern}/?$", re.IGNORECASE), converters


def load_app(app_dir: Path, app_module: str) -> Any:
    """Import `app_module` with `app_dir` first on sys.path and return its `app` attribute."""
    app_dir = app_dir.resolve()
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    module = importlib.import_module(app_module)
    app = getattr(module, "app", None)
    if app is None or not hasattr(app, "get_functions"):
        raise RuntimeError(
            f"{app_dir}/{app_module.replace('.', '/')}: module '{app_module}' has no attribute 'app' that is an "
            "azure.functions.FunctionApp (or durable_functions.DFApp)"
        )
    return app


def index_app(app: Any) -> AppIndex:
    """Index every function from `app.get_functions()` (which may be called only once per app object)."""
    index = AppIndex()
    for fn in app.get_functions():
        bindings = [{k: _plain(v) for k, v in b.get_dict_repr().items()} for b in fn.get_bindings()]
        trigger = next((b for b in bindings if b["type"].endswith("Trigger")), None)
        if trigger is None:
            log.warning("function %s has no trigger binding; skipped", fn.get_function_name())
            continue
        item = IndexedFunction(fn.get_function_name(), trigger["type"], trigger, bindings, fn.get_user_function())
        index.functions[item.name] = item
        if item.trigger_type == "httpTrigger":
            template = trigger.get("route") or item.name
            regex, converters = compile_route(template)
            methods = {m.upper() for m in trigger["methods"]} if trigger.get("methods") else None
            auth = str(trigger.get("authLevel") or "function").lower()
            index.http_routes.append(HttpRoute(item, template, regex, converters, methods, auth))
        elif item.trigger_type == "orchestrationTrigger":
            index.orchestrators[trigger.get("orchestration") or item.name] = item
        elif item.trigger_type == "activityTrigger":
            index.activities[trigger.get("activity") or item.name] = item
        elif item.trigger_type == "eventGridTrigger":
            index.eventgrid[item.name] = item
        else:
            log.warning("function %s: trigger type %s is not supported by devhost; it will never run",
                        item.name, item.trigger_type)
    # literal routes win over parameterised ones, as ASP.NET routing orders them
    index.http_routes.sort(key=lambda r: (r.template.count("{"), -len(r.template)))
    return index
