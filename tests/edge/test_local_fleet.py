"""The local fleet with real containers: three edge simulators (two amd64, one arm64 under qemu) and the fleet
hub (``localstack/fleet_hub.py``) between them and ``LocalFleet``; the real ``fleet_rollout`` orchestrator (the
Durable SDK replayed in real time) with its real activities rolls a real wine_cultivar image out; each device's
fleet reporter measures the model's own signals under the traffic of its sample request.

The device ids are chosen for their ring buckets: canary (buckets 0-9) = dev-amd64-23 (0) and dev-arm64-10 (1),
all (10-99) = dev-amd64-3 (11)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from contract import RolloutResult, RolloutStatus
from factory.adapters.local.containers import engine
from factory.adapters.local.fleet_store import LocalFleet
from factory.adapters.local.host import free_port
from factory.adapters.local.registry import skopeo_manifest
from factory.packaging.layers import read_image
from factory.rollout.service import RolloutService
from factory.rollout.spec import AbortBounds, Ring, RolloutSpec, bucket
from function_app.rollout import handlers
from orchestrations.fleet_rollout import fleet_rollout

from .conftest import wait_http
from .replay import run_orchestrator

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
MODEL, MODULE = "wine_cultivar", "wine-cultivar"
DEVICES = {"dev-amd64-23": "amd64", "dev-arm64-10": "arm64", "dev-amd64-3": "amd64"}
# the devices share two cores with the rest of the slow suite: a fresh version's p95 on an amd64 device includes its
# neighbour's qemu start (1.74 above the warm previous version's on a quiet machine; with a bound of 5, a loaded CI
# run rolled back on another signal before the arm64 crash was seen), and requests sent while its container is
# swapped fail. These tests are about
# devices that fail and devices that are offline, so the latency and error-rate bounds are out of their way; those
# gates' own tests are in test_fleet_rollout_orchestration.py and tests/unit/test_rollout_gate.py
SPEC = RolloutSpec(fleet="tags.site = 'local'", rings=(Ring("canary", 10, min_devices=2, bake_minutes=0.25),
                                                       Ring("all", 100, min_devices=1, bake_minutes=0.1)),
                   abort=AbortBounds(max_p95_regression=1000.0, max_error_rate=0.5))
# a ring whose only device is offline passes with no device applied: nothing failed, it converges on its return
SPEC_ALLOWING_EMPTY = RolloutSpec(fleet=SPEC.fleet, rings=(SPEC.rings[0], Ring("all", 100, bake_minutes=0.1)),
                                  abort=SPEC.abort)


@dataclass
class Fleet:
    folder: Path
    hub: LocalFleet
    sims: dict[str, tuple[int, subprocess.Popen]]
    good: str  # the model image index
    crash_arm64: str  # the same amd64 image; an arm64 image that exits at once

    def start(self, device: str, port: int | None = None) -> None:
        port = port or free_port()
        log = (self.folder / f"{device}.log").open("a")
        proc = subprocess.Popen([sys.executable, "-m", "localstack.edge_simulator", "--port", str(port),
                                 "--state-dir", str(self.folder / "devices" / device), "--arch", DEVICES[device]],
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=log)
        wait_http(f"http://127.0.0.1:{port}/health")
        self.sims[device] = (port, proc)

    def stop(self, device: str) -> None:
        proc = self.sims[device][1]
        proc.terminate()
        proc.wait(10)

    def rollout(self, version: str, image: str, spec: RolloutSpec = SPEC) -> RolloutResult:
        service = RolloutService(self.hub, lambda model: spec if model == MODEL else None, poll_seconds=3,
                                 rollback_timeout_s=600)
        request = {"run_id": f"run-{version}", "model": MODEL, "version": version, "image": image}
        started = time.monotonic()
        replay = run_orchestrator(fleet_rollout, request, handlers(service), real_time=True, max_episodes=5000)
        result = RolloutResult.from_dict(replay.output)
        print(f"\nrollout of version {version}: {result.status.value} in {time.monotonic() - started:.0f} s; "
              + ", ".join(f"{v.ring} {v.applied}/{v.targeted}" for v in result.rings))
        return result

    def reported(self) -> dict[str, str]:
        return {r.device: r.version for r in self.hub.device_reports("tags.site = 'local'", MODULE)}

    def wait_reported(self, expected: dict[str, str], timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while self.reported() != expected:
            assert time.monotonic() < deadline, f"devices report {self.reported()}, expected {expected}"
            time.sleep(2)


def _crash_on_arm64(good: str, registry: str) -> str:
    """An index of ``good``'s amd64 image and an arm64 image built on ``good``'s arm64 one that exits at once."""
    eng = engine()
    variants = read_image(good, skopeo_manifest)
    repository = good.split("@")[0]
    with tempfile.TemporaryDirectory(prefix="mf-crash-") as tmp:
        (Path(tmp) / "Containerfile").write_text(
            f"FROM {repository}@{variants['arm64'].digest}\n"
            'ENTRYPOINT ["python3", "-c", "raise SystemExit(\'this version crashes on arm64\')"]\n')
        eng.run(["build", "-q", "--platform", "linux/arm64", "--tls-verify=false", "-t",
                 "localhost/mf-fleet-test-crash:arm64", tmp])
        index = "localhost/mf-fleet-test-crash-index:latest"
        eng.run(["manifest", "rm", index], check=False)
        eng.run(["manifest", "create", index])
        try:
            eng.run(["manifest", "add", "--tls-verify=false", index,
                     f"docker://{repository}@{variants['amd64'].digest}"])
            eng.run(["manifest", "add", index, "containers-storage:localhost/mf-fleet-test-crash:arm64"])
            digest_file = Path(tmp) / "digest"
            eng.run(["manifest", "push", "--all", "--format", "v2s2", "--tls-verify=false", "--digestfile",
                     str(digest_file), index, f"docker://{repository}:crash-arm64"], timeout=900)
            return f"{repository}@{digest_file.read_text().strip()}"
        finally:
            eng.run(["manifest", "rm", index], check=False)
            eng.run(["rmi", "-f", "localhost/mf-fleet-test-crash:arm64"], check=False)


@pytest.fixture(scope="module")
def fleet(registry: str, wine_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    assert [bucket(d) for d in DEVICES] == [0, 1, 11]
    work = tmp_path_factory.mktemp("fleet")
    good = wine_image
    folder = work / "state"
    (folder / "fleet").mkdir(parents=True)
    fleet = Fleet(folder, LocalFleet(folder / "fleet" / "fleet.json"), {}, good, _crash_on_arm64(good, registry))
    hub_proc = None
    try:
        for device in DEVICES:
            fleet.start(device)
        (folder / "fleet" / "devices.json").write_text(json.dumps(
            [{"id": d, "arch": a, "url": f"http://127.0.0.1:{fleet.sims[d][0]}"} for d, a in DEVICES.items()]))
        hub_log = (folder / "hub.log").open("w")
        hub_proc = subprocess.Popen([sys.executable, "-m", "localstack.fleet_hub", "--state-dir", str(folder),
                                     "--devices", str(folder / "fleet" / "devices.json"), "--registry", registry,
                                     "--models-dir", str(ROOT / "models"), "--interval", "1",
                                     "--traffic-per-second", "2"],
                                    cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=hub_log,
                                    stderr=hub_log)
        deadline = time.monotonic() + 600
        while not (folder / "fleet" / "hub.json").exists():
            assert hub_proc.poll() is None and time.monotonic() < deadline, (folder / "hub.log").read_text()
            time.sleep(1)
        yield fleet
    finally:
        if hub_proc is not None:
            hub_proc.terminate()
            hub_proc.wait(10)
        for device, (_port, proc) in fleet.sims.items():
            proc.terminate()
            proc.wait(10)
            subprocess.run([sys.executable, "-m", "localstack.edge_simulator", "--state-dir",
                            str(folder / "devices" / device), "--remove-all"], cwd=ROOT, capture_output=True,
                           timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_version_rolls_out_to_every_ring_then_one_crashing_on_arm64_is_stopped_by_the_canary(fleet: Fleet):
    first = fleet.rollout("1", fleet.good)
    assert first.status is RolloutStatus.COMPLETED, first.reason
    assert [(v.ring, v.targeted, v.applied) for v in first.rings] == [("canary", 2, 2), ("all", 1, 1)]
    fleet.wait_reported({d: "1" for d in DEVICES})  # the traffic's signals, measured on every device
    reports = {r.device: r for r in fleet.hub.device_reports("tags.site = 'local'", MODULE)}
    assert all(r.signals["1"].requests > 0 and r.signals["1"].p95_ms > 0 and r.health == "ok"
               for r in reports.values()), reports
    assert sum(sum(r.signals["1"].histogram.values()) for r in reports.values()) > 0

    second = fleet.rollout("2", fleet.crash_arm64)
    assert second.status is RolloutStatus.ROLLED_BACK, second
    assert [v.ring for v in second.rings] == ["canary"]  # "all" was never applied
    failed = next(c for c in second.rings[0].checks if c.signal == "failed_percent")
    assert not failed.passed and failed.value == 50.0, (second.reason, second,
                                                         fleet.hub.device_reports(SPEC.fleet, MODULE))
    assert len(failed.devices) == 1 and failed.devices[0].startswith("dev-arm64-10 (arm64): module ")
    assert "dev-arm64-10" in second.reason
    fleet.wait_reported({d: "1" for d in DEVICES}, timeout=300)  # the fleet runs version 1 again
    assert [d.labels["factoryVersion"] for d in fleet.hub.deployments(MODEL)] == ["1", "1"]


def test_a_device_offline_during_the_rollout_is_not_failed_and_converges_when_it_returns(fleet: Fleet):
    port = fleet.sims["dev-amd64-3"][0]
    fleet.stop("dev-amd64-3")
    result = fleet.rollout("3", fleet.good, SPEC_ALLOWING_EMPTY)
    assert result.status is RolloutStatus.COMPLETED, result.reason
    last = result.rings[-1]
    assert last.ring == "all" and last.offline == ["dev-amd64-3"] and last.applied == 0
    assert next(c for c in last.checks if c.signal == "failed_percent").value == 0.0
    assert fleet.reported() == {"dev-amd64-23": "3", "dev-arm64-10": "3", "dev-amd64-3": "1"}
    fleet.start("dev-amd64-3", port)
    fleet.wait_reported({d: "3" for d in DEVICES}, timeout=300)
