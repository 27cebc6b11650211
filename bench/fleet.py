"""Fleet rollout bench: the real ``fleet_rollout`` orchestrator (replayed by the Durable SDK, as in its tests) and
its real activities against a simulated IoT Hub of N device twins (default 10,000; no containers), one version
healthy and one 3x slower in the field.

Per ring it reports the devices targeted, the IoT Hub requests the controller made (as the IoT Hub adapter would
make them: configuration calls, query pages, id-chunked module-twin queries, one-time bucket tag updates), the
controller's activity calls, and the time to decide the ring: the judge activity (read the ring's twins + the
gate), of which ``gate s`` is the controller's own work (the rest is the simulated hub answering the queries).
Prints a table; writes ``bench/results/fleet.json``.

    .venv/bin/python bench/fleet.py [--devices 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from contract import RolloutResult, VersionSignals  # noqa: E402
from factory.adapters.local.fleet import SimulatedFleet  # noqa: E402
from factory.adapters.local.fleet_runtime import Outcome, SimulatedRuntime  # noqa: E402
from factory.rollout.fleet import LABEL_MODEL, LABEL_VERSION, LayeredDeployment, layered_content  # noqa: E402
from factory.rollout.service import RolloutService  # noqa: E402
from factory.rollout.spec import AbortBounds, Ring, RolloutSpec  # noqa: E402
from function_app.rollout import handlers  # noqa: E402
from orchestrations.fleet_rollout import fleet_rollout  # noqa: E402
from tests.edge.replay import run_orchestrator  # noqa: E402

RESULTS = REPO / "bench" / "results" / "fleet.json"
MODEL, MODULE = "nyc_taxi", "nyc-taxi"
SPEC = RolloutSpec("tags.site = 'plant-a'", (Ring("canary", 1, min_devices=10, bake_minutes=10),
                                             Ring("early", 10, bake_minutes=30), Ring("wave", 50, bake_minutes=60),
                                             Ring("all", 100)), AbortBounds())
HISTOGRAM = {"5": 120, "10": 300, "20": 150, "50": 30}


def build(devices: int, slow_version: bool) -> tuple[SimulatedFleet, RolloutService]:
    def behaviour(device: str, arch: str, version: str) -> Outcome:
        p95 = 30.0 if slow_version and version == "2" else 10.0
        return Outcome(signals=VersionSignals(requests=600, errors=0, p50_ms=p95 / 2, p95_ms=p95,
                                              histogram=dict(HISTOGRAM)))

    fleet = SimulatedFleet(SimulatedRuntime(MODULE, behaviour))
    for i in range(devices):
        fleet.add_device(f"plant-a-{i:05d}", "arm64" if i % 4 == 3 else "amd64", {"site": "plant-a"})
    fleet.create_deployment(LayeredDeployment("mf-nyc-taxi-v1-all", "tags.site = 'plant-a'", 1, layered_content(
        MODEL, MODULE, "1", "r/nyc-taxi@sha256:" + "1" * 64, "run-1"), {LABEL_MODEL: MODEL, LABEL_VERSION: "1"}))
    fleet.sync()
    fleet.operations.clear()
    return fleet, RolloutService(fleet, lambda model: SPEC, poll_seconds=30, rollback_timeout_s=900)


def scenario(devices: int, slow_version: bool) -> dict[str, Any]:
    fleet, service = build(devices, slow_version)
    calls = handlers(service)
    per_ring: list[dict[str, Any]] = []
    rings = [{"ring": "plan", "ops": Counter(), "activity_calls": 0, "decide_s": 0.0, "hub_s": 0.0}]
    read = fleet.device_reports

    def timed_reports(condition: str, module: str) -> Any:  # the simulated hub's own time, kept apart
        started = time.perf_counter()
        reports = read(condition, module)
        rings[-1]["hub_s"] += time.perf_counter() - started
        return reports

    fleet.device_reports = timed_reports  # type: ignore[method-assign]
    standings = [0]

    def label(name: str, req: dict[str, Any]) -> str:
        if name == "rollout_plan":
            return "plan"
        if name == "rollout_standing":  # the check before each ring
            standings[0] += 1
            return SPEC.rings[standings[0] - 1].name
        if name in ("rollout_apply_ring", "rollout_judge_ring"):
            return SPEC.rings[req["ring"]].name
        return "rollback" if name in ("rollout_roll_back", "rollout_convergence") else "finish"

    def tracked(name: str):
        def activity(req: dict[str, Any]) -> Any:
            ring = label(name, req)
            if ring != rings[-1]["ring"]:
                rings.append({"ring": ring, "ops": Counter(), "activity_calls": 0, "decide_s": 0.0, "hub_s": 0.0})
            before = Counter(fleet.operations)
            started = time.perf_counter()
            result = calls[name](req)
            elapsed = time.perf_counter() - started
            rings[-1]["ops"] += Counter(fleet.operations) - before
            rings[-1]["activity_calls"] += 1
            if name == "rollout_judge_ring":
                rings[-1]["decide_s"] += elapsed
                rings[-1]["devices"] = result["targeted"]
            return result
        return activity

    started = time.perf_counter()
    replay = run_orchestrator(fleet_rollout, {"run_id": "run-2", "model": MODEL, "version": "2",
                                              "image": "r/nyc-taxi@sha256:" + "2" * 64},
                              {name: tracked(name) for name in calls}, max_episodes=5000)
    wall = time.perf_counter() - started
    result = RolloutResult.from_dict(replay.output)
    for ring in rings:
        per_ring.append({"ring": ring["ring"], "devices": ring.get("devices", 0),
                         "iothub_requests": sum(ring["ops"].values()), "by_kind": dict(ring["ops"]),
                         "activity_calls": ring["activity_calls"], "decide_s": round(ring["decide_s"], 3),
                         "gate_s": round(max(0.0, ring["decide_s"] - ring["hub_s"]), 4)
                         if ring["decide_s"] else 0.0})
    return {"devices": devices, "status": result.status, "reason": result.reason[:160], "rings": per_ring,
            "activity_calls": len(replay.calls), "replay_episodes": replay.episodes, "wall_s": round(wall, 2),
            "iothub_requests": sum(r["iothub_requests"] for r in per_ring)}


def table(results: dict[str, Any]) -> str:
    rows = []
    for name, run in results["scenarios"].items():
        rows.append(f"{name}: {run['devices']} devices -> {run['status']} ({run['wall_s']} s wall, "
                    f"{run['activity_calls']} activity calls, {run['iothub_requests']} IoT Hub requests)")
        rows.append(f"  {'ring':<10} {'devices':>8} {'hub reqs':>9} {'activities':>10} {'decide s':>9} "
                    f"{'gate s':>8}  IoT Hub requests by kind")
        for ring in run["rings"]:
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(ring["by_kind"].items()))
            rows.append(f"  {ring['ring']:<10} {ring['devices']:>8} {ring['iothub_requests']:>9} "
                        f"{ring['activity_calls']:>10} {ring['decide_s']:>9.3f} {ring['gate_s']:>8.4f}  {kinds}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
               "rings": [{"name": r.name, "percent": r.percent, "min_devices": r.min_devices,
                          "bake_minutes": r.bake_minutes} for r in SPEC.rings],
               "scenarios": {"healthy": scenario(args.devices, False), "3x slower": scenario(args.devices, True)}}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
