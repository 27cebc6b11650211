"""``model-factory up | down | run | status | approve | logs``: the factory on the local stack."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from cli.client import FactoryClient, page_text, post_link
from cli.commands.dashboard import dashboard_url
from cli.follow import Follower
from cli.table import table
from contract import STAGES, RolloutStatus, RunStatus, RunSummary
from factory import history
from factory.card import seconds_left
from factory.catalog import load_catalog, scan_catalog
from factory.logrotate import tail_lines
from factory.runs import INCOMING_CONTAINER
from localstack.stack import LocalStack

DEFAULT_STATE = Path(".factory")


def _stack(args: argparse.Namespace) -> LocalStack:
    stack = LocalStack(Path(args.state_dir))
    if getattr(args, "fleet", None) is not None:
        try:
            stack.resize_fleet(args.fleet, args.fleet_arm64)
        except ValueError as exc:
            raise SystemExit(f"error: {exc}") from exc
    return stack


def _client(stack: LocalStack) -> FactoryClient:
    return FactoryClient(stack.base_url, stack.function_key)


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    stack = _stack(args)
    stack.up(progress=_say)
    _say(f"local stack up: Functions app at {stack.base_url} (dashboard for 30 min: {dashboard_url(stack)})")
    _say(f"MLflow UI (training runs, model versions) at {stack.settings_env()['MLFLOW_UI_URL']}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    _stack(args).down()
    _say("local stack stopped")
    return 0


def _short(digest: str) -> str:
    return digest.split(":")[-1][:12] if digest else ""


def _short_ref(ref: str) -> str:
    """``registry/repo:tag@sha256:<12 hex>``: enough to recognise, short enough for a table."""
    name, _, digest = ref.partition("@")
    return f"{name}@sha256:{_short(digest)}" if digest else ref


def _size(update: dict[str, int] | None) -> str:
    """``12.3 KB`` (the largest over the image's architectures): what a device holding the prod version pulls."""
    if not update:
        return ""
    most = max(update.values())
    return f"{most / 1024:.1f} KB" if most < 1024 * 1024 else f"{most / 1024 / 1024:.1f} MB"


def _summary_rows(runs: dict[str, RunSummary], key_metrics: dict[str, str]) -> list[list[str]]:
    rows = []
    for model, run in runs.items():
        lin = run.lineage
        metric = key_metrics[model]
        value = lin.metrics.get(metric)
        seconds = lin.stage_seconds
        rows.append([model, run.result or run.runtime_status or "", lin.model_version,
                     f"{metric}={value:.4g}" if isinstance(value, int | float) else "",
                     _short(lin.image_digest), _size(lin.update_bytes), lin.edge.status if lin.edge else "",
                     _short_ref(lin.prod_ref) or run.reason[:60], _rollout(run),
                     " ".join(f"{s}:{seconds[s]:.0f}" for s in STAGES if s in seconds)])
    return rows


def _rollout(run: RunSummary) -> str:
    """``Completed: canary 2/2, all 2/2`` (each ring's devices applied and reporting / targeted), or the
    rollout's status and reason; empty for a model without rollout:."""
    result = run.lineage.rollout
    if result is None:
        return ""
    rings = ", ".join(f"{r.ring} {r.applied}/{r.targeted}" for r in result.rings)
    reason = f" ({result.reason[:60]})" if result.reason and result.status is not RolloutStatus.COMPLETED else ""
    return f"{result.status.value}: {rings}{reason}" if rings else f"{result.status.value}{reason}"


def _changed(args: argparse.Namespace) -> list[str] | None:
    from factory.changes import ChangesError, changed_models

    try:
        return changed_models(Path.cwd(), args.changed, Path(args.models_dir))
    except ChangesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _retrain(stack: LocalStack, client: FactoryClient, model: str, sample: Path | None) -> str | None:
    """A run of ``model`` on its latest upload with HEAD as source commit (the sample if it has no upload)."""
    from factory.changes import head_commit, retrain_key

    commit = head_commit(Path.cwd())
    status, body = client.start_run(model, "latest", idempotency_key=retrain_key(commit), source_commit=commit)
    if status == 202 and isinstance(body, dict):
        _say(f"{model}: changed since the ref; retraining on its latest upload at {commit[:12]} -> run {body['id']}")
        return str(body["id"])
    if status == 404 and sample is not None and sample.is_file():
        run_id = stack.upload(model, sample)[2]
        _say(f"{model}: changed, and no upload yet: uploaded its sample -> run {run_id}")
        return run_id
    print(f"{model}: could not start a run ({status}): {body}", file=sys.stderr)
    return None


def cmd_run(args: argparse.Namespace) -> int:
    stack = _stack(args)
    catalog = load_catalog(Path(args.models_dir))
    broken: list[str] = []
    if args.changed is not None:
        changed = _changed(args)
        if changed is None:
            return 2
        if not changed:
            _say(f"no model changed since {args.changed}; nothing to run")
            return 0
        broken = [m for m in changed if m not in catalog]
        reasons = scan_catalog(Path(args.models_dir))[1] if broken else {}
        for model in broken:  # reported and skipped: the other changed models still run
            print(f"{model}: changed, but its folder does not load, so it is not retrained: "
                  f"{reasons.get(model, 'not in the catalog')}", file=sys.stderr)
        models = [m for m in changed if m in catalog]
        if not models:
            return 1
    else:
        models = sorted(catalog) if args.all or not args.models else args.models
    unknown = [m for m in models if m not in catalog]
    if unknown:
        print(f"unknown model(s) {', '.join(unknown)}; the catalog has {', '.join(sorted(catalog))}", file=sys.stderr)
        return 2
    stack.up(progress=_say)
    client = _client(stack)
    run_ids: dict[str, str] = {}
    for model in models:
        if args.changed is not None:
            run_id = _retrain(stack, client, model, catalog[model].data.sample)
            if run_id is None:
                return 1
            run_ids[model] = run_id
            continue
        data = Path(args.data) if args.data else catalog[model].data.sample
        if data is None or not data.is_file():
            print(f"{model}: no data to upload (model.yaml data.sample or --data)", file=sys.stderr)
            return 2
        run_ids[model] = stack.upload(model, data)[2]
        _say(f"{model}: uploaded {data.name} to {INCOMING_CONTAINER}/{model}/ -> run {run_ids[model]}")
    finished: dict[str, RunSummary] = {}
    last: dict[str, RunSummary] = {}
    stages: dict[str, str] = {}
    shown_links: set[str] = set()
    follow = Follower(_say)  # devhost may restart meanwhile: keep following
    model_of = {run_id: model for model, run_id in run_ids.items()}
    for run_id, run in client.watch(run_ids.values(), args.timeout, follow=follow):
        model = model_of[run_id]
        last[model] = run
        if (run.stage or "") != stages.get(model):
            stages[model] = run.stage or ""
            _say(f"{model}: {stages[model]}")
        waiting = run.approval is not None and run.approval.waiting
        links = follow.call(client.approval_links, run_id)[1] if waiting and run_id not in shown_links else None
        if links:
            if args.auto_approve:
                ok, answer = follow.call(post_link, links["approve"])
                status, page = answer if ok else (0, "devhost did not answer")
                if status in (200, 202):  # 202: submitted, the approval closes shortly
                    shown_links.add(run_id)
                    _say(f"{model}: approved through the signed link")
                else:
                    _say(f"{model}: the approve link answered {status}: {page_text(page)}")
            else:
                shown_links.add(run_id)
                _say(f"{model}: waiting for approval\n  approve: {links['approve']}\n  reject:  {links['reject']}")
        if run.has_ended:
            finished[model] = run
            _say(f"{model}: {run.result or run.runtime_status} {run.reason}".rstrip())
    for model, run_id in run_ids.items():  # not finished in time: its last state, and why it is in the table
        if model not in finished:
            finished[model] = replace(last.get(model) or RunSummary(run_id),
                                      reason=f"not finished within {args.timeout:g} s")
    head = ["model", "result", "version", "key metric", "image", "update size", "edge", "prod reference",
            "rollout", "seconds per stage"]
    print()
    print(table(head, _summary_rows(finished, {m: catalog[m].key_metric for m in run_ids})))
    print(f"\nThe local stack keeps running: dashboard {dashboard_url(stack)} (30 min; `model-factory dashboard` "
          "prints a new link); `model-factory status` lists runs, `model-factory down` stops it.")
    ok = all(r.result is RunStatus.SUCCEEDED for r in finished.values())
    return 0 if ok and not broken else 1


def _needs_stack(stack: LocalStack) -> int | None:
    """Exit code 2 with one line when devhost (what status and approve call) does not answer, else None."""
    from factory.stackcheck import STACK_DOWN, warn_partial, why_not

    if (reason := why_not(stack)) is not None:
        print(reason, file=sys.stderr)
        return STACK_DOWN
    if (note := warn_partial(stack)) is not None:
        print(note, file=sys.stderr)
    return None


def cmd_status(args: argparse.Namespace) -> int:
    if (down := _needs_stack(_stack(args))) is not None:
        return down
    client = _client(_stack(args))
    if args.run_id:
        run = client.run(args.run_id)
        if run is None:
            print(f"no run {args.run_id}", file=sys.stderr)
            return 1
        print(json.dumps(run, indent=2, default=str))
        return 0
    runs = client.summaries()
    rows = [[r.run_id, r.runtime_status or "", r.stage or "", r.result or "", r.lineage.model_version,
             r.reason[:60]] for r in runs]
    print(table(["run", "status", "stage", "result", "version", "reason"], rows))
    print(f"MLflow UI (training runs, model versions): {_stack(args).settings_env()['MLFLOW_UI_URL']}")
    waiting = [client.summary(r.run_id) or r for r in history.waiting_approvals(runs)]
    if waiting:
        print(f"\napprovals waiting (dashboard: {client.base_url}/api/dashboard/approvals):")
        print(table(["run", "model", "version", "time left", "expires"], waiting_rows(waiting, time.time())))
    return 0


def waiting_rows(runs: list[RunSummary], now: float) -> list[list[str]]:
    """One row per run waiting for approval: run, model, version, time left, expiry."""
    rows = []
    for run in runs:
        expires_at = run.approval.expires_at if run.approval else ""
        left = seconds_left(expires_at, now)
        rows.append([run.run_id, run.lineage.model, run.lineage.model_version,
                     "?" if left is None else f"{int(left) // 60} min {int(left) % 60} s", expires_at])
    return rows


def cmd_approve(args: argparse.Namespace) -> int:
    if (down := _needs_stack(_stack(args))) is not None:
        return down
    client = _client(_stack(args))
    run = client.summary(args.run_id)
    if run is None:
        print(f"no run {args.run_id}", file=sys.stderr)
        return 1
    approval = run.approval
    links = client.approval_links(args.run_id) if approval is not None and approval.running else None
    if not links:
        lineage = run.lineage
        if approval is not None and approval.runtime_status and lineage.decision:
            by = f" by {lineage.approver}" if lineage.approver else ""
            print(f"the approval of run {args.run_id} is already closed ({lineage.decision}{by})", file=sys.stderr)
        else:
            print(f"run {args.run_id} has no pending approval (stage: {run.stage or 'none'})", file=sys.stderr)
        return 1
    status, page = post_link(links["reject" if args.reject else "approve"])
    print(f"HTTP {status} {page_text(page)}")
    return 0 if status in (200, 202) else 1


def cmd_logs(args: argparse.Namespace) -> int:
    stack = _stack(args)
    known = [s.name for s in stack.services()]
    if args.service and args.service not in known:
        print(f"no service {args.service!r}; the services are: {', '.join(known)}", file=sys.stderr)
        return 2
    names = [args.service] if args.service else known
    for name in names:
        path = stack.log_path(name)
        if path.exists():
            lines = tail_lines(path, args.lines)
            print(f"==> {name} ({path})\n" + "\n".join(lines))
    return 0


def _count(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{value}: expected 0 to 64")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    def add(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        parser = subparsers.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("--state-dir", default=str(DEFAULT_STATE), help="local stack state (default .factory)")
        parser.set_defaults(func=func)
        return parser

    def fleet_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--fleet", type=_count, metavar="N",
                            help="run a local fleet of N simulated IoT Edge devices with real containers (the "
                                 "models that declare rollout: roll out to it); 0 removes it; default: the fleet "
                                 "the last up started (none at first)")
        parser.add_argument("--fleet-arm64", type=_count, metavar="K",
                            help="how many of the N devices are arm64 (run under qemu; default 1 when N >= 2)")

    fleet_options(add("up", cmd_up, "start the local stack (Azurite, registries, edge simulators, MLflow UI, "
                                    "devhost, the local fleet)"))
    add("down", cmd_down, "stop the local stack")
    run = add("run", cmd_run, "upload each model's data and follow its factory run to the end")
    fleet_options(run)
    run.add_argument("models", nargs="*", help="models to run (default: all)")
    run.add_argument("--all", action="store_true", help="every model in the catalog")
    run.add_argument("--data", help="CSV to upload instead of each model's sample")
    run.add_argument("--auto-approve", action="store_true", help="approve through the signed link")
    run.add_argument("--changed", nargs="?", const="HEAD~1", metavar="REF",
                     help="only the models whose folder (or the kit) changed since REF (default HEAD~1), "
                          "retrained on their latest upload with HEAD as the source commit")
    run.add_argument("--timeout", type=float, default=3600, help="seconds to wait for all runs")
    run.add_argument("--models-dir", default="models")
    status = add("status", cmd_status, "list runs, or show one run's stage and lineage")
    status.add_argument("run_id", nargs="?")
    approve = add("approve", cmd_approve, "approve (or --reject) a run waiting for approval")
    approve.add_argument("run_id")
    approve.add_argument("--reject", action="store_true")
    logs = add("logs", cmd_logs, "show the local services' logs")
    logs.add_argument("service", nargs="?")
    logs.add_argument("-n", "--lines", type=int, default=40)
