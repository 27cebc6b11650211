"""Benchmark: seconds per stage per model on the local runner, and the runner's overhead against calling the
same stage programs directly (target: under 10 %).

For each model, alternately (``--repeat`` times):
- direct: each stage program run as a subprocess from its code folder, in order, with the same arguments and
  the same MLflow environment (its MLflow run created beforehand, untimed): what a person would type;
- runner: ``run_pipeline`` (in this process, plan cache warm): data fetch, plan, MLflow run, every step with
  its log, outputs read back;
- detached: ``LocalPipelineTrainer.submit`` until Completed: a fresh interpreter, as the factory runs it.

Medians are reported. ``python bench/pipeline.py [--repeat N] [--models a,b]``; writes bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from factory.adapters.local.mlflow_registry import default_tracking_uri, ensure_experiment  # noqa: E402
from factory.adapters.local.pipeline import LocalPipelineTrainer  # noqa: E402
from factory.adapters.local.pipeline_runner import load_plan, output_dir, resolve_command, run_pipeline  # noqa: E402
from factory.catalog import load_catalog  # noqa: E402
from factory.model_spec import ModelSpec  # noqa: E402
from factory.ports import TrainingRequest  # noqa: E402


def direct(spec: ModelSpec, state: Path, work: Path, run_id: str) -> dict[str, float]:
    """Seconds per stage calling the stage programs directly (and ``total``)."""
    from mlflow import MlflowClient

    uri = default_tracking_uri(state)
    experiment = ensure_experiment(uri, state, spec.name)
    mlflow_run = MlflowClient(uri).create_run(experiment).info.run_id
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_RUN_ID": mlflow_run, "PYTHONUNBUFFERED": "1"}
    plan = load_plan(spec, cache_dir=state / "plans")
    inputs = {"data": str(spec.data.sample), "model_name": spec.name, "run_id": run_id,
              "data_uri": str(spec.data.sample)}
    times: dict[str, float] = {}
    started = time.perf_counter()
    for step in plan.steps:
        argv = resolve_command(step, inputs, work)
        for out in step.outputs:
            output_dir(work, step.name, out).mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=step.code_dir, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        times[step.name] = time.perf_counter() - t0
    times["total"] = time.perf_counter() - started
    return times


def runner(spec: ModelSpec, state: Path, work: Path, run_id: str) -> dict[str, float]:
    """Seconds per stage through the local runner (and ``total``, its whole wall time)."""
    request = TrainingRequest(model=spec.name, run_id=run_id, data_uri=str(spec.data.sample))
    started = time.perf_counter()
    result = run_pipeline(spec, request, work, state)
    total = time.perf_counter() - started
    return {**{s.name: s.seconds for s in result.steps}, "total": total}


def detached(spec: ModelSpec, state: Path, models_dir: Path, run_id: str) -> float:
    trainer = LocalPipelineTrainer(state, models_dir)
    request = TrainingRequest(model=spec.name, run_id=run_id, data_uri=str(spec.data.sample))
    started = time.perf_counter()
    job = trainer.wait(trainer.submit(request).job_name, timeout=600, interval=0.05)
    assert job.status == "Completed", job.error
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", help="comma-separated; default: the whole catalog")
    args = parser.parse_args()
    catalog = load_catalog(ROOT / "models")
    names = args.models.split(",") if args.models else list(catalog)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        state = Path(tmp) / "state"
        for name in names:
            spec = catalog[name]
            load_plan(spec, cache_dir=state / "plans")  # warm the plan cache (its cold cost is reported apart)
            runs: dict[str, list[dict[str, float]]] = {"direct": [], "runner": [], "detached": []}
            for i in range(args.repeat):
                runs["direct"].append(direct(spec, state, Path(tmp) / f"{name}-direct-{i}", f"direct-{i}"))
                runs["runner"].append(runner(spec, state, Path(tmp) / f"{name}-runner-{i}", f"runner-{i}"))
                runs["detached"].append({"total": detached(spec, state, ROOT / "models", f"detached-{i}")})
            results[name] = {kind: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for kind, rs in runs.items()}
        cold_started = time.perf_counter()
        load_plan(catalog[names[0]], cache_dir=None)
        cold_plan = time.perf_counter() - cold_started

    stages = list(results[names[0]]["runner"])
    print(f"{'model':<18} {'stage':<10} {'direct s':>9} {'runner s':>9}")
    for name, r in results.items():
        for stage in stages:
            print(f"{name:<18} {stage:<10} {r['direct'][stage]:>9.2f} {r['runner'][stage]:>9.2f}")
    print()
    print(f"{'model':<18} {'direct s':>9} {'runner s':>9} {'overhead':>9} {'detached s':>11} {'overhead':>9}")
    for name, r in results.items():
        d, rr, dt = r["direct"]["total"], r["runner"]["total"], r["detached"]["total"]
        r["runner_overhead"], r["detached_overhead"] = (rr - d) / d, (dt - d) / d
        print(f"{name:<18} {d:>9.2f} {rr:>9.2f} {r['runner_overhead']:>9.1%} {dt:>11.2f} "
              f"{r['detached_overhead']:>9.1%}")
    print(f"\nloading a pipeline with azure-ai-ml (cold plan, in a warm process): {cold_plan:.2f} s; "
          f"median of {args.repeat} alternating runs; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    out = ROOT / "bench" / "results" / "pipeline.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"repeat": args.repeat, "cold_plan_seconds": cold_plan, "models": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
