"""Import a Python v2 Functions app and index its functions by trigger type, as the Functions host does."""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
from collections.abc import Mapping
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
    unsupported: list[str] = field(default_factory=list)  # bindings devhost does not implement, described

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
    unsupported: dict[str, list[str]] = field(default_factory=dict)  # function -> what devhost does not implement


TRIGGERS = {"httpTrigger", "orchestrationTrigger", "activityTrigger", "eventGridTrigger"}
_SETTING = re.compile(r"%([A-Za-z_][A-Za-z0-9_.:-]*)%")


def resolve_settings(value: Any, settings: Mapping[str, str], where: str) -> Any:
    """`%AppSetting%` references in a string (or in the strings of a list/dict) replaced by the setting's value, as
    the host resolves them in host.json and binding properties; an unknown setting is an error naming `where`."""
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in settings:
                raise AppLoadError(f"{where}: '%{m.group(1)}%' names an app setting that is not set "
                                   "(local.settings.json Values or the environment)")
            return settings[m.group(1)]
        return _SETTING.sub(sub, value)
    if isinstance(value, list):
        return [resolve_settings(v, settings, where) for v in value]
    if isinstance(value, dict):
        return {k: resolve_settings(v, settings, f"{where}.{k}") for k, v in value.items()}
    return value


def _supported(binding: dict[str, Any], trigger: dict[str, Any]) -> bool:
    kind = binding["type"]
    if binding is trigger:
        return kind in TRIGGERS
    if kind == "durableClient":
        return True
    return kind == "http" and trigger["type"] == "httpTrigger"  # the HTTP response ($return)


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


class AppLoadError(SystemExit):
    """The app cannot be loaded: which file, and what was expected."""


def app_file(app_dir: Path, app_module: str) -> Path:
    """The file `app_module` names under `app_dir` (`a.b` → `a/b.py` or `a/b/__init__.py`); never elsewhere."""
    app_dir = app_dir.resolve()
    rel = Path(*app_module.split("."))
    for candidate in (app_dir / rel.with_suffix(".py"), app_dir / rel / "__init__.py"):
        if candidate.is_file():
            resolved = candidate.resolve()
            if not resolved.is_relative_to(app_dir):
                raise AppLoadError(f"{candidate}: resolves to {resolved}, outside --app-dir {app_dir}")
            return resolved
    raise AppLoadError(f"{app_dir}: no {rel.with_suffix('.py')} (nor {rel / '__init__.py'}) for --app-module "
                       f"{app_module}; devhost imports the app only from --app-dir")


def load_app(app_dir: Path, app_module: str) -> tuple[Any, Path, str]:
    """Import `app_module` from `app_dir` only and find its app, as the Python worker does: the one module-level
    `FunctionApp` / `DFApp` (any `FunctionRegister`), whatever its name. Returns (app, file, attribute name)."""
    from azure.functions.decorators.function_app import FunctionRegister

    app_dir = app_dir.resolve()
    path = app_file(app_dir, app_module)
    if str(app_dir) not in sys.path:  # the app's own imports (its blueprints, helpers) resolve from its folder
        sys.path.insert(0, str(app_dir))
    loaded = sys.modules.get(app_module)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() != path:
        for name in [m for m in sys.modules if m == app_module or m.startswith(app_module + ".")]:
            del sys.modules[name]  # a module of that name from elsewhere (e.g. the virtualenv) is not this app
    module = importlib.import_module(app_module)
    if Path(module.__file__ or "").resolve() != path:
        raise AppLoadError(f"{path}: importing '{app_module}' loaded {module.__file__} instead")
    apps = [(name, value) for name, value in vars(module).items() if isinstance(value, FunctionRegister)]
    if not apps:
        raise AppLoadError(f"{path}: no module-level azure.functions.FunctionApp (or durable_functions.DFApp) "
                           "instance; define one, e.g. `app = func.FunctionApp()`")
    if len({id(v) for _, v in apps}) > 1:
        raise AppLoadError(f"{path}: more than one function app instance ({', '.join(n for n, _ in apps)}); the "
                           "worker takes exactly one (register the others' functions as blueprints)")
    return apps[0][1], path, apps[0][0]


def index_app(app: Any, settings: Mapping[str, str] | None = None) -> AppIndex:
    """Index every function from `app.get_functions()` (which may be called only once per app object), with
    `%AppSetting%` references in binding properties resolved from `settings` (default: the environment). Bindings
    devhost does not implement are logged now, naming function and binding type, and fail its invocations."""
    settings = os.environ if settings is None else settings
    index = AppIndex()
    for fn in app.get_functions():
        name = fn.get_function_name()
        bindings = [resolve_settings({k: _plain(v) for k, v in b.get_dict_repr().items()}, settings,
                                     f"function {name}, binding {b.get_dict_repr().get('name')}")
                    for b in fn.get_bindings()]
        trigger = next((b for b in bindings if b["type"].endswith("Trigger")), None)
        if trigger is None:
            log.warning("function %s has no trigger binding; skipped", name)
            continue
        item = IndexedFunction(name, trigger["type"], trigger, bindings, fn.get_user_function())
        item.unsupported = [f"{'trigger' if b is trigger else _direction(b)} binding type '{b['type']}' "
                            f"(parameter '{b.get('name')}')" for b in bindings if not _supported(b, trigger)]
        if item.unsupported:
            index.unsupported[name] = item.unsupported
            log.warning("function %s: devhost does not implement its %s; %s", name, ", ".join(item.unsupported),
                        "it never runs" if trigger["type"] not in TRIGGERS else "invoking it fails with this message")
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
    # literal routes win over parameterised ones, as ASP.NET routing orders them
    index.http_routes.sort(key=lambda r: (r.template.count("{"), -len(r.template)))
    return index


def _direction(binding: dict[str, Any]) -> str:
    return {0: "input", 1: "output", 2: "in/out"}.get(binding.get("direction"), "")  # type: ignore[arg-type]
