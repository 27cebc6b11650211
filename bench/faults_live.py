"""The fault table on live runs (issue 24): SIGKILL one local service during the stage of a real model run that
uses it, then ``model-factory up``, and follow the run to its end; per case the run's result, the stage it ended
at and its reason, its model versions (tagged with its run id) and images (the dev registry's tag for it), and
after ``down`` the processes of the stack left.

One stack with free ports in a temporary state folder (its dependency cache shared with the checkout's
``.factory/deps``, as every stack on the machine would), one upload of the model's sample per case, the cases
one after the other, approvals through the signed link (as ``run --auto-approve``). Prints the table and writes
``bench/results/faults_live.json``.

    nice -n 10 .venv/bin/python bench/faults_live.py [--cases dev-registry,devhost] [--model wine_cultivar]
        [--arches amd64]   # one device architecture: images for amd64 only, the arm64 simulator not a target
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cli.client import FactoryClient, post_link  # noqa: E402
from cli.table import table  # noqa: E402
from contract import RunSummary, Stage  # noqa: E402
from localstack import supervision  # noqa: E402
from localstack.stack import LocalStack, StackPorts  # noqa: E402

# the service -> the stage of a run during which it is killed (what that stage uses it for)
CASES: dict[str, Stage | None] = {
    "blob-events": None,  # killed before the upload: the BlobCreated event is published after the restart
    "azurite": Stage.TRAIN,  # just after validation pinned the upload; training reads the pinned copy
    "devhost": Stage.TRAIN,  # the Functions host: the orchestration, the activities in flight
    "dev-registry": Stage.PACKAGE,  # the push and its ImagePushed event
    "edge-simulator": Stage.EDGE,  # the device the smoke test runs on
    "edge-simulator-arm64": Stage.EDGE,
    "prod-registry": Stage.PROMOTE,
    "mlflow-ui": Stage.TRAIN,  # no run needs it: only the links
}
FINAL_TIMEOUT_S = 1800


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _summary(client: FactoryClient, run_id: str) -> RunSummary | None:
    try:
        return client.summary(run_id)
    except (OSError, RuntimeError):  # devhost restarting
        return None


def _follow(client: FactoryClient, run_id: str, until: Stage | None, deadline: float) -> RunSummary | None:
    """Poll the run until it reaches ``until`` (None: until it ends), approving through the signed link."""
    approved = False
    while time.monotonic() < deadline:
        run = _summary(client, run_id)
        if run is not None:
            if until is not None and (run.stage == until or run.has_ended):
                return run
            if until is None and run.has_ended:
                return run
            if not approved and run.approval is not None and run.approval.waiting:
                with contextlib.suppress(OSError, RuntimeError):
                    links = client.approval_links(run_id)
                    if links and post_link(links["approve"])[0] in (200, 202):
                        approved = True
        time.sleep(1)
    return None


def _versions(stack: LocalStack, model: str, run_id: str) -> int:
    from factory.adapters.local.mlflow_registry import MlflowModelRegistry
    from factory.settings import Settings

    registry = MlflowModelRegistry.from_settings(Settings.from_env(stack.settings_env()))
    return sum(1 for v in registry.versions(model) if v.tags.get("run_id") == run_id)


def _images(stack: LocalStack, repository: str, run_id: str) -> int:
    """The run's images: its tag in the dev registry (the package stage pushes one per run)."""
    from factory.adapters.local.registry import manifest_digest

    with contextlib.suppress(OSError):
        return 1 if manifest_digest(f"127.0.0.1:{stack.ports.dev_registry}", repository, run_id) else 0
    return -1


def case(stack: LocalStack, client: FactoryClient, service: str, model: str, data: Path, repository: str) -> dict:
    stage = CASES[service]
    started = time.monotonic()
    if stage is None:
        stack.kill(service)
    _, _, run_id = stack.upload(model, data, name=f"fault-{service}-{int(time.time())}-{data.name}")
    killed_at = "upload"
    if stage is not None:
        reached = _follow(client, run_id, stage, time.monotonic() + FINAL_TIMEOUT_S)
        killed_at = str(stage) if reached and reached.stage == stage else \
            f"not reached ({reached.outcome if reached else 'timeout'})"
        stack.kill(service)
    time.sleep(2)
    _reap()
    up_started = time.monotonic()
    stack.up()
    up_s = time.monotonic() - up_started
    end = _follow(client, run_id, None, time.monotonic() + FINAL_TIMEOUT_S)
    return {"service": service, "stage": str(stage) if stage else "upload", "killed_at": killed_at, "run_id": run_id,
            "result": end.outcome if end else "timeout", "ended_at": str(end.current_stage) if end else "",
            "reason": (end.reason if end else "")[:200], "versions": _versions(stack, model, run_id),
            "images": _images(stack, repository, run_id), "up_s": round(up_s, 1),
            "run_s": round(time.monotonic() - started, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--cases", default="", help=f"comma-separated services (default: all: {', '.join(CASES)})")
    parser.add_argument("--model", default="wine_cultivar")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "faults_live.json")
    parser.add_argument("--arches", default="", help="FACTORY_IMAGE_ARCHES; amd64 also leaves the arm64 device out")
    args = parser.parse_args()
    names = [n for n in args.cases.split(",") if n] or list(CASES)
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        parser.error(f"unknown services {unknown}; known: {', '.join(CASES)}")
    from factory.catalog import load_catalog

    spec = load_catalog(REPO / "models")[args.model]
    data = spec.data.sample
    if data is None:
        parser.error(f"{args.model} has no data.sample")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="faults-live-") as tmp:
        state = Path(tmp) / "state"
        state.mkdir(mode=0o700)
        (REPO / ".factory" / "deps").mkdir(parents=True, exist_ok=True)
        (state / "deps").symlink_to(REPO / ".factory" / "deps")  # the wheels of the image locks, once per machine
        ports = StackPorts.free()
        extra = {}
        if args.arches:
            extra["FACTORY_IMAGE_ARCHES"] = args.arches
            if args.arches == "amd64":
                extra["FACTORY_EDGE_DEVICES"] = f"sim-amd64=amd64@http://127.0.0.1:{ports.edge}"
        stack = LocalStack(state, ports, extra_env=extra)
        left: list[int] = []
        ended: list[str] = []
        try:
            stack.up(progress=lambda m: print(f"[{time.strftime('%H:%M:%S')}] {m}", flush=True))
            client = FactoryClient(stack.base_url, stack.function_key)
            for name in names:
                print(f"[{time.strftime('%H:%M:%S')}] case {name}", flush=True)
                rows.append(case(stack, client, name, args.model, Path(data), spec.image.repository))
                print(json.dumps(rows[-1]), flush=True)
        finally:
            for service in reversed(stack.services()):  # as `down` does first; then what it still has to end
                stack.stop(service.name)
            _reap()
            ended = [" ".join(supervision.command_line(p))[:300] for p in supervision.stack_processes(stack.state_dir)]
            stack.down()
            _reap()
            left = supervision.stack_processes(stack.state_dir)
    for row in rows:
        row["left_after_down"] = len(left)
    keys = ("service", "killed_at", "result", "ended_at", "versions", "images", "left_after_down", "run_s", "reason")
    print(table(["service", "killed during", "result", "ended at", "versions", "images", "left after down",
                 "run s", "reason"], [[str(r[k]) for k in keys] for r in rows]))
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"processes of the stack that outlived their service and `down` ended: {len(ended)}")
    for line in ended:
        print(f"  {line}")
    out.write_text(json.dumps({"model": args.model, "arches": args.arches or "default", "rows": rows,
                               "ended_by_down": ended, "left_after_down": left}, indent=2))
    ok = all(r["result"] == "Succeeded" or r["reason"] for r in rows)
    return 0 if ok and not left and all(r["versions"] == 1 and r["images"] == 1 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
