"""App discovery as the Python worker does it (the one module-level FunctionApp/DFApp, whatever its name; only from
--app-dir), `%AppSetting%` resolution, bindings devhost does not implement, and the `--auth` switch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from devhost.appindex import AppLoadError, index_app, load_app, resolve_settings
from devhost.config import load_config
from devhost.server import DevHost

ROOT = Path(__file__).resolve().parents[2]
APP = '''import azure.functions as func
{name} = func.FunctionApp(http_auth_level=func.AuthLevel.{level})

@{name}.route(route="hi")
def hi(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hi from {tag}")
'''


def _app(tmp_path: Path, text: str, module: str) -> Path:
    """An app module in a fresh folder; named apart from the repo's own `function_app`, which other tests in this
    process import (loading another file under that name replaces it in sys.modules, as it must)."""
    app_dir = tmp_path / "app"
    app_dir.mkdir(exist_ok=True)
    (app_dir / f"{module}.py").write_text(text)
    return app_dir


def _run(app_dir: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    """`python -m devhost --app-dir ...` from the repo root (where the factory's own function_app/ lies)."""
    return subprocess.run([sys.executable, "-m", "devhost", "--port", "0", "--app-dir", str(app_dir),
                           "--state-dir", str(tmp_path / "state"), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_missing_app_file_is_an_error_not_the_factory_s_own_app(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    done = _run(tmp_path / "app", tmp_path)
    assert done.returncode != 0
    assert f"{tmp_path / 'app'}: no function_app.py" in done.stderr and "only from --app-dir" in done.stderr
    assert "model_factory_run" not in done.stderr


def test_no_app_object_names_the_file(tmp_path: Path) -> None:
    app_dir = _app(tmp_path, "import azure.functions as func\n\nx = 1\n", "no_app")
    with pytest.raises(AppLoadError, match=r"no_app\.py: no module-level azure\.functions\.FunctionApp"):
        load_app(app_dir, "no_app")


def test_several_app_objects_are_refused_by_name(tmp_path: Path) -> None:
    app_dir = _app(tmp_path, "import azure.functions as func\n\nfirst = func.FunctionApp()\n"
                             "second = func.FunctionApp()\n", "two_apps")
    with pytest.raises(AppLoadError, match=r"two_apps\.py: more than one function app instance \(first, second\)"):
        load_app(app_dir, "two_apps")


def test_the_app_object_may_have_any_name_and_the_loaded_file_is_said(tmp_path: Path) -> None:
    app_dir = _app(tmp_path, APP.format(name="myApp", level="ANONYMOUS", tag="x"), "named_app")
    app, path, attribute = load_app(app_dir, "named_app")
    assert (path, attribute) == (app_dir / "named_app.py", "myApp")
    assert [f.get_function_name() for f in app.get_functions()] == ["hi"]


def test_app_settings_resolve_in_binding_properties_and_host_json(tmp_path: Path) -> None:
    assert resolve_settings({"queueName": "%Q%-x", "n": 1}, {"Q": "jobs"}, "f") == {"queueName": "jobs-x", "n": 1}
    with pytest.raises(AppLoadError, match=r"function f, binding msg\.queueName: '%MISSING%' names an app setting"):
        resolve_settings({"queueName": "%MISSING%"}, {}, "function f, binding msg")
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"durableTask": {"hubName": "%HUB%"},
                                                                   "http": {"routePrefix": "%PREFIX%"}}}))
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"HUB": "FromSettings", "PREFIX": "v1"}}))
    cfg = load_config(tmp_path, tmp_path / "state")
    assert (cfg.hub_name, cfg.route_prefix) == ("FromSettings", "v1")
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"durableTask": {"hubName": "%NOPE%"}}}))
    with pytest.raises(SystemExit, match=r"host\.json: extensions\.durableTask\.hubName: '%NOPE%'"):
        load_config(tmp_path, tmp_path / "state")


def test_unimplemented_bindings_are_listed_with_function_and_type(tmp_path: Path) -> None:
    app_dir = _app(tmp_path, '''import azure.functions as func
app = func.FunctionApp()

@app.timer_trigger(schedule="0 * * * * *", arg_name="timer")
def tick(timer) -> None:
    pass

@app.route(route="q")
@app.blob_input(arg_name="doc", path="%CONTAINER%/a.txt", connection="AzureWebJobsStorage")
def read(req, doc) -> str:
    return doc
''', "bindings_app")
    app, _path, _name = load_app(app_dir, "bindings_app")
    index = index_app(app, {"CONTAINER": "docs"})
    assert index.unsupported == {"tick": ["trigger binding type 'timerTrigger' (parameter 'timer')"],
                                 "read": ["input binding type 'blob' (parameter 'doc')"]}
    assert next(b for b in index.functions["read"].bindings if b["type"] == "blob")["path"] == "docs/a.txt"


@pytest.mark.parametrize(("auth", "expected"), [("keys", 401), ("off", 200)])
def test_auth_switch_on_function_level_triggers(tmp_path: Path, auth: str, expected: int) -> None:
    app_dir = _app(tmp_path, APP.format(name="app", level="FUNCTION", tag=auth), f"auth_{auth}")
    with DevHost(app_dir=app_dir, app_module=f"auth_{auth}", state_dir=tmp_path / "state", port=0,
                 subscriptions=None, auth=auth) as host:
        assert requests.get(f"{host.base_url}/api/hi", timeout=10).status_code == expected
        key = requests.get(f"{host.base_url}/api/hi", params={"code": host.config.master_key}, timeout=10)
        assert key.status_code == 200 and key.text == f"hi from {auth}"
        durable = requests.get(f"{host.base_url}/runtime/webhooks/durabletask/instances", timeout=10)
        assert durable.status_code == 401  # system keys stay on whatever --auth says


def test_auth_default_is_keys() -> None:
    from devhost.__main__ import parse_args

    assert parse_args([]).auth == "keys"
    assert DevHost().auth == "keys"
