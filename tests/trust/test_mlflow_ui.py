"""The stack's MLflow UI (``localstack/mlflow_ui.py``): started as a supervised service on a free loopback port
over the tracking store the factory writes, it answers, and the training run and model version a real local
training job made are at the links the approval card and the run page show; one process, so a SIGKILL or
``down`` leaves nothing."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from contract import Lineage
from factory.adapters.local.host import free_port
from factory.adapters.local.mlflow_registry import MlflowModelRegistry
from factory.adapters.local.pipeline import LocalPipelineTrainer
from factory.card import build_card
from factory.ports import TrainingRequest
from factory.settings import Settings
from factory.training_pipeline import training_job_name
from function_app.pages.card import lineage_facts
from localstack import supervision
from localstack.stack import ROOT, LocalStack, StackPorts

pytestmark = pytest.mark.slow
MODEL = "wine_cultivar"


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _rss_kib(pid: int) -> int:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1])


def test_the_ui_serves_the_factory_store_and_the_card_links_to_the_run_and_version(tmp_path: Path):
    stack = LocalStack(tmp_path / "state", StackPorts.free())
    service = next(s for s in stack.services() if s.name == "mlflow-ui")
    ui = stack.settings_env()["MLFLOW_UI_URL"]
    try:
        started = time.monotonic()
        stack.start(service)
        ready_s = time.monotonic() - started
        status, body = _get(f"{ui}/")
        assert status == 200 and b"<title>MLflow</title>" in body
        rebound = urllib.request.Request(f"{ui}/ajax-api/2.0/mlflow/experiments/search?max_results=1",
                                         headers={"Host": f"10.0.0.5:{stack.ports.mlflow}"})  # DNS rebinding
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(rebound, timeout=10)
        assert refused.value.code in (400, 403)

        # a real local training job in the store the factory writes (the stack's settings)
        settings = Settings.from_env({**stack.settings_env(), "FACTORY_MODELS_DIR": str(ROOT / "models"),
                                      "FACTORY_EVENTGRID_ENDPOINT": ""})  # no devhost here: nothing to notify
        trainer = LocalPipelineTrainer.from_settings(settings)
        data = next((ROOT / "models" / MODEL / "data").glob("*.csv"))
        trainer.submit(TrainingRequest(model=MODEL, run_id="ui-run-1", data_uri=str(data)))
        job = training_job_name(MODEL, "ui-run-1")
        deadline = time.monotonic() + 300
        while (state := trainer.status(job).status) not in ("Completed", "Failed"):
            assert time.monotonic() < deadline, "training did not finish"
            time.sleep(1)
        assert state == "Completed", trainer.status(job).error
        version = MlflowModelRegistry.from_settings(settings).versions(MODEL)[-1].version

        link = trainer.job_link(job, version)
        route = urllib.parse.urlsplit(link.url)
        assert f"{route.scheme}://{route.netloc}" == ui and route.path == "/"
        _, experiment, _, run_id = route.fragment.strip("/").split("/")  # experiments/<id>/runs/<run>
        status, body = _get(f"{ui}/ajax-api/2.0/mlflow/runs/get?run_id={run_id}")  # what that page asks for
        assert status == 200
        run = json.loads(body)["run"]
        assert run["info"]["experiment_id"] == experiment and run["info"]["status"] == "FINISHED"
        assert _get(f"{ui}/ajax-api/2.0/mlflow/runs/get?run_id={'0' * 32}")[0] == 404
        assert link.version_url == f"{ui}/#/models/{MODEL}/versions/{version}"
        status, body = _get(f"{ui}/ajax-api/2.0/mlflow/model-versions/get?name={MODEL}&version={version}")
        assert status == 200 and json.loads(body)["model_version"]["run_id"] == run_id

        # `train` prints the same two links when the UI serving its store answers for the run
        from cli.commands.versions import mlflow_ui_links

        registry = MlflowModelRegistry.from_settings(settings)
        assert mlflow_ui_links(registry, settings, MODEL, version, run_id) == (link.url, link.version_url)
        elsewhere = Settings.from_env({**stack.settings_env(), "MLFLOW_UI_URL": f"http://127.0.0.1:{free_port()}"})
        assert mlflow_ui_links(registry, elsewhere, MODEL, version, run_id) is None  # nothing answers there

        # the card (also on the run page) links both
        card = build_card("ui-run-1", Lineage(model=MODEL, model_version=version, training_job=job), job=link)
        html = lineage_facts(card)
        assert f"href='{link.url}'" in html or f'href="{link.url}"' in html
        assert link.version_url in html

        pid = stack.pid("mlflow-ui")
        assert pid is not None
        print(f"\nmlflow-ui: ready in {ready_s:.1f} s; RSS {_rss_kib(pid) / 1024:.0f} MiB after a run's pages")
        assert [p for p in supervision.stack_processes(stack.state_dir) if supervision.process_group(p) == pid
                ] == [pid]  # one process: no server child, no job runner

        os.kill(pid, signal.SIGKILL)  # a crash leaves nothing holding the port; up starts it again
        deadline = time.monotonic() + 10
        while supervision.listeners(stack.ports.mlflow) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not supervision.alive(pid) and supervision.listeners(stack.ports.mlflow) == set()
        stack.start(service)
        assert _get(f"{ui}/ajax-api/2.0/mlflow/runs/get?run_id={run_id}")[0] == 200
    finally:
        stack.down()
    assert supervision.stack_processes(stack.state_dir) == []
    assert supervision.listeners(stack.ports.mlflow) == set()
