"""The fleet rollout under devhost, SIGKILLed mid-rollout and restarted on the same state: the real
``fleet_rollout`` orchestrator and activities (``function_app.rollout`` on the local backend), the fleet in its
file (``LocalFleet``), four devices applying its configurations through a simulated runtime in this process
(``SimulatedDevices``: they outlive the host), the prod image signed in a real registry on loopback. The
rollout completes as it would have, and the fleet's log shows every ring's configuration created once and
none deleted and recreated; each device applied the new version once. Killed as the rollout rolls back instead,
the rollback happens once: each configuration deleted once, production back on the previous version, one
rolled-back mark on the image."""

from __future__ import annotations

import collections
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from contract import RolloutResult, RolloutStatus, VersionSignals
from devhost.server import LaunchedHost, launch
from factory.adapters.local.fleet_devices import SimulatedDevices
from factory.adapters.local.fleet_runtime import Outcome, SimulatedRuntime
from factory.adapters.local.fleet_store import LocalFleet
from factory.adapters.local.host import free_port
from factory.adapters.local.mlflow_registry import MlflowModelRegistry, default_tracking_uri
from factory.adapters.local.signing import LocalKeySigner, ensure_key_pair
from factory.edge.manifest import module_name
from factory.rollout.fleet import LABEL_MODEL, LABEL_RING, LABEL_VERSION, LayeredDeployment, layered_content
from factory.supplychain import statements
from factory.supplychain.cosign import PREDICATE_ANNOTATION, attestation_tag, sign_image
from factory.supplychain.oci import Registry
from localstack.registry import RegistryProcess, start_registry
from tests.packaging.helpers import push_tiny_image

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = Path(__file__).parent / "rollout_app"
DURABLE = "/runtime/webhooks/durabletask"
MODEL = "vibration_anomaly"
MODULE = module_name(MODEL)
REPO = "models/vibration-anomaly"
# the local fleet's devices (their ring buckets: 37, 36 in canary (0-39); 85, 84 in all (40-99))
DEVICES = {"fleet-amd64-1": "amd64", "fleet-amd64-2": "amd64", "fleet-amd64-3": "amd64", "fleet-arm64-1": "arm64"}
ROLLOUT = """rollout:
  fleet: "tags.site = 'local'"
  rings:
    - {name: canary, percent: 40, min_devices: 2, bake_minutes: 0.05}
    - {name: all, percent: 100, min_devices: 2, bake_minutes: 0.05}
"""
SIGNALS = VersionSignals(requests=100, errors=0, p50_ms=4.0, p95_ms=9.0, histogram={"0": 90, "1": 10})


def config_id(version: str, ring: str) -> str:
    return f"mf-vibration-anomaly-v{version}-{ring}"


@dataclass
class Rollout:
    """Everything one test needs: the factory's state, the fleet and its devices, the signed images."""

    tmp: Path
    env: dict[str, str]
    fleet: LocalFleet
    devices: SimulatedDevices
    images: dict[str, str]
    host: LaunchedHost | None = None
    starts: int = 0

    def launch(self) -> LaunchedHost:
        self.starts += 1
        self.host = launch(app_dir=APP_DIR, app_module="rollout_app", state_dir=self.tmp / "devhost", workers=4,
                           log_file=self.tmp / f"devhost-{self.starts}.log", env=self.env)
        return self.host

    def api(self, method: str, path: str, body: Any = None) -> Any:
        assert self.host is not None
        resp = requests.request(method, f"{self.host.base_url}{DURABLE}{path}", json=body, timeout=10,
                                headers={"x-functions-key": self.host.keys.system_key})
        assert resp.status_code in (200, 202), resp.text
        return resp.json()

    def status(self, instance: str) -> dict[str, Any]:
        return self.api("GET", f"/instances/{instance}")

    def completed(self, instance: str) -> list[str]:
        """The instance's completed activities, in order, as its history records them."""
        events = self.api("GET", f"/instances/{instance}?showHistory=true")["historyEvents"]
        return [e["FunctionName"] for e in events if e["EventType"] == "TaskCompleted"]

    def wait(self, instance: str, done: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not done(status := self.status(instance)):
            assert status["runtimeStatus"] in ("Pending", "Running"), status
            assert time.monotonic() < deadline, f"not there within {timeout} s: {status}"
            time.sleep(0.05)
        return status

    def start(self, instance: str) -> None:
        self.api("POST", f"/orchestrators/fleet_rollout/{instance}",
                 {"run_id": "run-2", "model": MODEL, "version": "2", "image": self.images["2"]})

    def kill(self) -> None:
        assert self.host is not None
        self.host.kill()  # SIGKILL: no shutdown code runs

    def versions(self) -> dict[str, str]:
        return {r.device: r.version for r in self.fleet.device_reports("tags.site = 'local'", MODULE)}


def _signed_image(registry: str, signer: LocalKeySigner, version: str) -> str:
    digest = push_tiny_image(registry, REPO, version, payload=f"{MODEL} {version}".encode())
    sign_image(Registry(registry), REPO, digest, signer)
    return f"{registry}/{REPO}@{digest}"


@pytest.fixture
def prod_registry(tmp_path: Path) -> Iterator[RegistryProcess]:
    registry = start_registry("prod", free_port(), tmp_path)
    yield registry
    registry.stop()


def _rollout(tmp_path: Path, registry: str, behaviour: Callable[[str, str, str], Outcome]) -> Iterator[Rollout]:
    """Version 1 of the model on the whole fleet (as its completed rollout left it), version 2 signed in prod."""
    state, models = tmp_path / "factory", tmp_path / "models"
    shutil.copytree(ROOT / "models" / MODEL, models / MODEL, ignore=shutil.ignore_patterns("src", "tests", "mlops"))
    yaml = (models / MODEL / "model.yaml").read_text()
    (models / MODEL / "model.yaml").write_text(yaml[:yaml.index("\nrollout:")] + "\n" + ROLLOUT)
    private = state / "keys" / "signing.key"
    ensure_key_pair(private, private.with_suffix(".pub"))
    signer = LocalKeySigner(private, private.with_suffix(".pub"))
    images = {v: _signed_image(registry, signer, v) for v in ("1", "2")}
    fleet = LocalFleet(state / "fleet" / "fleet.json")
    for device, arch in DEVICES.items():
        fleet.register(device, arch, {"arch": arch, "site": "local"})
    fleet.create_deployment(LayeredDeployment(
        config_id("1", "all"), "tags.site = 'local'", 1, layered_content(MODEL, MODULE, "1", images["1"], "run-1"),
        {LABEL_MODEL: MODEL, LABEL_VERSION: "1", LABEL_RING: "all"}))
    devices = SimulatedDevices(fleet, SimulatedRuntime(MODULE, behaviour), MODULE)
    devices.step()
    env = {"FACTORY_BACKEND": "local", "FACTORY_ROOT": str(ROOT), "FACTORY_STATE_DIR": str(state),
           "FACTORY_MODELS_DIR": str(models), "FACTORY_ACTIVITY_RETRY_SECONDS": "0.5",
           "FACTORY_ROLLOUT_POLL_SECONDS": "1", "MLFLOW_TRACKING_URI": default_tracking_uri(state)}
    rollout = Rollout(tmp_path, env, fleet, devices, images)
    stop = threading.Event()
    loop = threading.Thread(target=devices.run, args=(stop, 0.02), daemon=True)
    loop.start()
    try:
        yield rollout
    finally:
        stop.set()
        loop.join(5)
        if rollout.host is not None:
            rollout.host.stop()


def healthy(device: str, arch: str, version: str) -> Outcome:
    return Outcome(signals=SIGNALS)


@pytest.fixture
def healthy_rollout(tmp_path: Path, prod_registry: RegistryProcess) -> Iterator[Rollout]:
    yield from _rollout(tmp_path, prod_registry.address, healthy)


def test_devhost_sigkilled_while_a_ring_bakes_then_restarted_completes_the_rollout_applying_no_ring_twice(
        healthy_rollout: Rollout) -> None:
    r = healthy_rollout
    assert r.versions() == dict.fromkeys(DEVICES, "1")
    started = time.monotonic()
    r.launch()
    instance = "run-2-rollout"
    r.start(instance)
    r.wait(instance, lambda s: (s.get("customStatus") or {}).get("step") == "baking", timeout=60)
    assert r.fleet.history() == [("created", config_id("1", "all")), ("created", config_id("2", "canary"))]
    time.sleep(0.5)  # into the canary's 3 s bake (a durable timer)
    r.kill()
    assert r.fleet.history()[-1] == ("created", config_id("2", "canary"))  # ring all not applied yet
    canary = {d for d, v in r.versions().items() if v == "2"}
    assert canary == {"fleet-amd64-1", "fleet-amd64-3"}  # the canary's devices run version 2, the others 1

    r.launch()  # the same devhost state, the same fleet file
    status = r.wait(instance, lambda s: s["runtimeStatus"] != "Running", timeout=60)
    elapsed = time.monotonic() - started
    assert status["runtimeStatus"] == "Completed", status
    result = RolloutResult.from_dict(status["output"])
    assert result.status is RolloutStatus.COMPLETED and result.previous_version == "1", result
    assert [(v.ring, v.passed, v.targeted) for v in result.rings] == [("canary", True, 2), ("all", True, 2)]
    # the fleet's log: each ring's configuration created once, none deleted (and recreated); version 1's layer
    # cleaned up once the rollout completed
    assert r.fleet.history() == [("created", config_id("1", "all")), ("created", config_id("2", "canary")),
                                 ("created", config_id("2", "all")), ("deleted", config_id("1", "all"))]
    assert r.versions() == dict.fromkeys(DEVICES, "2")
    steps = [a for a in r.completed(instance) if a not in ("rollout_judge_ring", "rollout_standing")]
    assert steps == ["rollout_plan", "rollout_apply_ring", "rollout_apply_ring", "rollout_finish"]  # resumed
    applies = collections.Counter(r.devices.applied)
    assert {device: applies[(device, "2")] for device in DEVICES} == dict.fromkeys(DEVICES, 1), r.devices.applied
    assert {device: applies[(device, "1")] for device in DEVICES} == dict.fromkeys(DEVICES, 1)  # the start only
    print(f"\nrollout with a devhost SIGKILL in the canary's bake: {elapsed:.1f} s")


def production(models: MlflowModelRegistry) -> str:
    found = models.production(MODEL)
    return found.version if found is not None else ""


def crashing_on_arm64(device: str, arch: str, version: str) -> Outcome:
    return Outcome(status="backoff") if version == "2" and arch == "arm64" else Outcome(signals=SIGNALS)


@pytest.fixture
def crashing_rollout(tmp_path: Path, prod_registry: RegistryProcess) -> Iterator[Rollout]:
    yield from _rollout(tmp_path, prod_registry.address, crashing_on_arm64)


def test_devhost_sigkilled_while_rolling_back_then_restarted_rolls_back_once(crashing_rollout: Rollout) -> None:
    """Version 2 passes the canary (amd64 only) and crashes on ring all's arm64 device: the gate fails and the
    rollout deletes version 2's configurations; devhost is killed as the first one goes. After the restart the
    rollback ends once: each configuration deleted once (none recreated), every device back on version 1
    having applied it once more, production back on version 1, one rolled-back mark on the prod image."""
    r = crashing_rollout
    models = MlflowModelRegistry(r.env["MLFLOW_TRACKING_URI"])
    models.client.create_registered_model(MODEL)
    for version in ("1", "2"):
        models.client.create_model_version(MODEL, (r.tmp / f"run-{version}").as_uri())
    models.mark_production(MODEL, "2")  # promote made version 2 production
    started = time.monotonic()
    r.launch()
    instance = "run-2-rollout"
    r.start(instance)
    deadline = time.monotonic() + 60
    while ("deleted", config_id("2", "canary")) not in r.fleet.history():
        assert time.monotonic() < deadline, r.status(instance)
        time.sleep(0.01)
    r.kill()
    assert production(models) == "2"  # killed before the rollout ended

    r.launch()
    status = r.wait(instance, lambda s: s["runtimeStatus"] != "Running", timeout=60)
    elapsed = time.monotonic() - started
    assert status["runtimeStatus"] == "Completed", status
    result = RolloutResult.from_dict(status["output"])
    assert result.status is RolloutStatus.ROLLED_BACK, result
    assert [(v.ring, v.passed) for v in result.rings] == [("canary", True), ("all", False)]
    assert "fleet-arm64-1 (arm64): module backoff" in result.reason and "back on version 1" in result.reason
    assert r.fleet.history() == [("created", config_id("1", "all")), ("created", config_id("2", "canary")),
                                 ("created", config_id("2", "all")), ("deleted", config_id("2", "canary")),
                                 ("deleted", config_id("2", "all"))]
    assert r.versions() == dict.fromkeys(DEVICES, "1")
    steps = [a for a in r.completed(instance) if a not in ("rollout_judge_ring", "rollout_standing",
                                                          "rollout_convergence")]
    assert steps == ["rollout_plan", "rollout_apply_ring", "rollout_apply_ring", "rollout_roll_back",
                     "rollout_finish"]
    applies = collections.Counter(r.devices.applied)
    assert {device: (applies[(device, "2")], applies[(device, "1")]) for device in DEVICES} == dict.fromkeys(
        DEVICES, (1, 2)), r.devices.applied  # version 1 at the start and once more after the rollback
    assert production(models) == "1"
    repository, digest = r.images["2"].split("/", 1)[1].split("@")
    attestations = Registry(r.images["2"].split("/")[0]).manifest(repository, attestation_tag(digest))
    assert attestations is not None
    kinds = [layer["annotations"][PREDICATE_ANNOTATION] for layer in attestations.json()["layers"]]
    assert kinds.count(statements.ROLLED_BACK) == 1
    print(f"\nrolled back with a devhost SIGKILL as the configurations went: {elapsed:.1f} s")
