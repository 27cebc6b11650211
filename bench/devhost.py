"""Benchmark devhost against durabletask's InMemoryOrchestrationBackend (same shapes, same run).

Shapes: (a) one orchestration chaining N no-op activities, N = 50 and 200; (b) fan-out/fan-in of 200 activities;
(c) 100 instances of 10 chained activities. Prints activities/s and ms per activity for both engines and the
ratio, and writes bench/results/devhost.json.

    .venv/bin/python bench/devhost.py [--repeat 3] [--full-replay]

devhost runs as `python -m devhost` (its own process, SQLite WAL state in a temp dir, every step persisted);
orchestrations are started and watched over its Durable HTTP API, as DurableOrchestrationClient does.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from devhost.server import free_port, launch  # noqa: E402

DURABLE = "/runtime/webhooks/durabletask"
BENCH_APP = textwrap.dedent('''
    import azure.durable_functions as df
    import azure.functions as func

    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.activity_trigger(input_name="value")
    def noop(value):
        return value

    @app.orchestration_trigger(context_name="context")
    def chain(context):
        n = context.get_input()
        for i in range(n):
            yield context.call_activity("noop", i)
        return n

    @app.orchestration_trigger(context_name="context")
    def fan(context):
        n = context.get_input()
        results = yield context.task_all([context.call_activity("noop", i) for i in range(n)])
        return len(results)
''')

SHAPES = [
    ("a: chain N=50", "chain", 50, 1),
    ("a: chain N=200", "chain", 200, 1),
    ("b: fan-out/fan-in 200", "fan", 200, 1),
    ("c: 100 instances x chain 10", "chain", 10, 100),
]


# ---- devhost -----------------------------------------------------------------------------------------------------
class DevhostRunner:
    def __init__(self, workdir: Path, full_replay: bool, sync: str) -> None:
        app_dir = workdir / "app"
        app_dir.mkdir()
        (app_dir / "bench_app.py").write_text(BENCH_APP)
        (app_dir / "host.json").write_text('{"version": "2.0"}')
        extra = (["--full-replay"] if full_replay else []) + ["--sync", sync]
        self.host = launch(app_dir=app_dir, app_module="bench_app", state_dir=workdir / "state", workers=4,
                           log_file=workdir / "devhost.log", extra_args=extra)
        self.http = requests.Session()
        self.http.headers["x-functions-key"] = self.host.keys.system_key
        self.base = self.host.base_url + DURABLE

    def run(self, orchestrator: str, n: int, instances: int) -> float:
        t0 = time.perf_counter()
        ids = []
        for _ in range(instances):
            resp = self.http.post(f"{self.base}/orchestrators/{orchestrator}", data=json.dumps(json.dumps(n)))
            resp.raise_for_status()
            ids.append(resp.json()["id"])
        for iid in ids:
            while True:
                st = self.http.get(f"{self.base}/instances/{iid}")
                if st.status_code == 200:
                    body = st.json()
                    if body["runtimeStatus"] != "Completed" or body["output"] != n:
                        raise RuntimeError(f"devhost {orchestrator} {iid}: {body}")
                    break
                time.sleep(0.005)
        return time.perf_counter() - t0

    def close(self) -> None:
        self.host.stop()


# ---- durabletask in-memory peer ----------------------------------------------------------------------------------
class PeerRunner:
    def __init__(self) -> None:
        from durabletask import client as dt_client
        from durabletask import worker as dt_worker
        from durabletask.testing import create_test_backend

        port = free_port()
        self.backend = create_test_backend(port=port)
        self.client = dt_client.TaskHubGrpcClient(host_address=f"localhost:{port}")
        self.worker = dt_worker.TaskHubGrpcWorker(host_address=f"localhost:{port}")

        def noop(ctx, value):
            return value

        def chain(ctx, n):
            for i in range(n):
                yield ctx.call_activity(noop, input=i)
            return n

        def fan(ctx, n):
            results = yield dt_task_all([ctx.call_activity(noop, input=i) for i in range(n)])
            return len(results)

        from durabletask.task import when_all as dt_task_all

        self.fns: dict[str, Callable] = {"chain": chain, "fan": fan}
        self.worker.add_activity(noop)
        self.worker.add_orchestrator(chain)
        self.worker.add_orchestrator(fan)
        self.worker.start()

    def run(self, orchestrator: str, n: int, instances: int) -> float:
        t0 = time.perf_counter()
        ids = [self.client.schedule_new_orchestration(self.fns[orchestrator], input=n) for _ in range(instances)]
        for iid in ids:
            state = self.client.wait_for_orchestration_completion(iid, timeout=600)
            if state is None or state.serialized_output != json.dumps(n):
                raise RuntimeError(f"durabletask {orchestrator} {iid}: {state}")
        return time.perf_counter() - t0

    def close(self) -> None:
        self.worker.stop()
        self.backend.stop()


def _measure(runner, repeat: int) -> dict[str, dict[str, float]]:
    out = {}
    runner.run("chain", 5, 2)  # warm-up: imports, first replay, connections
    for label, orch, n, instances in SHAPES:
        times = [runner.run(orch, n, instances) for _ in range(repeat)]
        best = min(times)
        activities = n * instances
        out[label] = {"activities": activities, "seconds_best": best, "seconds_median": statistics.median(times),
                      "activities_per_s": activities / best, "ms_per_activity": best * 1000 / activities}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per shape; the best is reported")
    parser.add_argument("--full-replay", action="store_true", help="run devhost with --full-replay")
    parser.add_argument("--sync", choices=["NORMAL", "FULL"], default="NORMAL",
                        help="devhost's SQLite synchronous mode (NORMAL: crash-safe; FULL: also power-loss-safe)")
    parser.add_argument("--skip-peer", action="store_true", help="measure devhost only")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "devhost.json"))
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="devhost-bench-") as tmp:
        dh = DevhostRunner(Path(tmp), args.full_replay, args.sync)
        try:
            devhost = _measure(dh, args.repeat)
        finally:
            dh.close()
    if args.skip_peer:
        for label, values in devhost.items():
            print(f"{label:30} {values['activities_per_s']:8.0f} act/s {values['ms_per_activity']:8.2f} ms/act")
        return 0
    peer_runner = PeerRunner()
    try:
        peer = _measure(peer_runner, args.repeat)
    finally:
        peer_runner.close()

    header = f"{'shape':30} {'devhost act/s':>14} {'ms/act':>8} {'peer act/s':>11} {'ms/act':>8} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    rows = []
    for label, *_ in SHAPES:
        d, p = devhost[label], peer[label]
        ratio = d["activities_per_s"] / p["activities_per_s"]
        rows.append({"shape": label, "devhost": d, "durabletask_in_memory": p, "speed_ratio": ratio})
        print(f"{label:30} {d['activities_per_s']:14.0f} {d['ms_per_activity']:8.2f} {p['activities_per_s']:11.0f} "
              f"{p['ms_per_activity']:8.2f} {ratio:6.2f}")
    scaling = devhost["a: chain N=200"]["ms_per_activity"] / devhost["a: chain N=50"]["ms_per_activity"]
    print(f"\ndevhost cost per activity at N=200 / at N=50: {scaling:.2f} (target <= 1.5)")
    print("ratio = devhost activities/s / durabletask InMemoryOrchestrationBackend activities/s (target >= 1 "
          "for a and c)")
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": __import__("os").cpu_count()},
        "devhost_mode": "full-replay" if args.full_replay else "session replay",
        "devhost_sqlite_synchronous": args.sync,
        "repeat": args.repeat,
        "rows": rows,
        "devhost_chain_scaling_200_vs_50": scaling,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
