"""The local stack: Azurite, the dev and prod registries, the edge simulators, the MLflow UI (over the local
tracking store: ``localstack/mlflow_ui.py``), the BlobCreated watcher and devhost running the Functions app,
each a background process with its log under ``<state>/logs`` (rotated by size: ``factory/logrotate.py``).

``model-factory up`` starts what is not running yet (a service counts as running only when the process this
stack started holds its port and answers; a stale process of the stack on the port is ended, any other one
refused by name), ``down`` stops everything and ends whatever process of the stack is left
(``localstack/supervision.py``); both remove the image verification containers a killed build left behind
(labelled with this stack's state dir). With a fleet (``up --fleet N``) also its devices and the fleet hub
(``fleet_services``), started before devhost, which takes the reporter image the hub pushed and signed as
``FACTORY_FLEET_REPORTER_IMAGE`` (``_fleet_reporter``). Tests use the same class with their own state dir and
free ports.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from factory.adapters.local.host import free_port
from factory.adapters.local.signing import ensure_key_pair, key_paths
from factory.logrotate import LogLimits, start_rotator
from factory.private import private_dir, write_private
from factory.settings import Settings
from factory.supplychain.policy import write_policy
from localstack import supervision
from localstack.services import FleetDeviceSpec, Service, fleet_devices, fleet_reporter_env, http_ok, port_open

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


@dataclass
class StackPorts:
    devhost: int = 7071
    azurite: int = 10000
    dev_registry: int = 5100
    prod_registry: int = 5200
    edge: int = 5300
    edge_arm64: int = 5301
    mlflow: int = 5400

    @classmethod
    def free(cls) -> StackPorts:
        return cls(**{name: free_port() for name in asdict(cls())})


class LocalStack:
    """Starts and stops the local stand-ins for Azure, and knows the settings that point at them."""

    def __init__(self, state_dir: Path, ports: StackPorts | None = None, root: Path = ROOT,
                 extra_env: dict[str, str] | None = None, fleet: list[FleetDeviceSpec] | None = None) -> None:
        self.root = root.resolve()
        self.state_dir = state_dir.resolve()
        self.ports = ports or self._saved_ports() or StackPorts()
        self.extra_env = extra_env or {}
        # the local fleet's devices (``up --fleet N``); None: the ones the last ``up`` saved (none at first)
        self.fleet = self._saved_fleet() if fleet is None else fleet

    # -- settings ---------------------------------------------------------------------------------------
    def _saved_ports(self) -> StackPorts | None:
        path = self.state_dir / "stack.json"
        if not path.exists():
            return None
        saved = json.loads(path.read_text())["ports"]
        return StackPorts(**{k: v for k, v in saved.items() if k in asdict(StackPorts())})

    def _saved_fleet(self) -> list[FleetDeviceSpec]:
        path = self.state_dir / "stack.json"
        if not path.exists():
            return []
        return [FleetDeviceSpec(str(d["id"]), str(d["arch"]), int(d["port"]))
                for d in json.loads(path.read_text()).get("fleet", [])]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.devhost}"

    @property
    def function_key(self) -> str:
        """The key the CLI calls function-level endpoints with: devhost's master key, which
        ``local.settings.json`` may set (``Keys.masterKey``) and devhost otherwise keeps in its state dir."""
        return self._host_key(("masterKey",), "master.key")

    @property
    def durable_key(self) -> str:
        """devhost's ``durabletask_extension`` system key: the Durable management API takes only it (or the master
        key), as the check-status URLs carry it."""
        return self._host_key(("systemKeys", "durabletask_extension"), "durabletask_extension.key")

    @property
    def eventgrid_key(self) -> str:
        """devhost's ``eventgrid_extension`` system key: what local publishers send the topic (``aeg-sas-key``)."""
        return self._host_key(("systemKeys", "eventgrid_extension"), "eventgrid_extension.key")

    def _host_key(self, field_path: tuple[str, ...], file_name: str) -> str:
        """A key from ``local.settings.json`` ``Keys`` when set there, else the one devhost keeps (or will read)
        in its state dir; created here first when devhost has not run yet (0600, same format)."""
        settings = self.root / "local.settings.json"
        if settings.exists():
            value: object = json.loads(settings.read_text()).get("Keys") or {}
            for name in field_path:
                value = value.get(name) if isinstance(value, dict) else None
            if value:
                return str(value)
        (self.state_dir / "devhost").mkdir(parents=True, exist_ok=True, mode=0o700)
        return self._secret(Path("devhost") / file_name, 32)

    def _secret(self, name: str | Path, nbytes: int = 24) -> str:
        """A random secret kept in ``<state>/<name>``, created once, readable by its owner only."""
        path = self.state_dir / name
        if not path.exists():
            private_dir(path.parent)
            with contextlib.suppress(FileExistsError):  # another process created it first: use theirs
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(secrets.token_urlsafe(nbytes))
        return path.read_text().strip()

    def settings_env(self) -> dict[str, str]:
        """The app settings the Functions app and the local adapters read."""
        p = self.ports
        return {
            "FACTORY_BACKEND": "local",
            "FACTORY_ROOT": str(self.root),
            "FACTORY_STATE_DIR": str(self.state_dir),
            "FACTORY_EVENTGRID_ENDPOINT": f"{self.base_url}/runtime/eventgrid/topic",
            "FACTORY_EVENTGRID_KEY": self.eventgrid_key,
            "FACTORY_BLOB_CONNECTION_STRING": (
                "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
                f"BlobEndpoint=http://127.0.0.1:{p.azurite}/devstoreaccount1;"),
            "FACTORY_DEV_REGISTRY": f"127.0.0.1:{p.dev_registry}",
            "FACTORY_PROD_REGISTRY": f"127.0.0.1:{p.prod_registry}",
            "FACTORY_EDGE_SIM_URL": f"http://127.0.0.1:{p.edge}",
            "FACTORY_EDGE_DEVICES": (f"sim-amd64=amd64@http://127.0.0.1:{p.edge},"
                                     f"sim-arm64=arm64@http://127.0.0.1:{p.edge_arm64}"),
            "APPROVAL_SIGNING_KEY": self._secret("approval-signing-key", 48),
            "APPROVAL_BASE_URL": self.base_url,
            "MLFLOW_UI_URL": f"http://127.0.0.1:{p.mlflow}",
            **self._fleet_reporter(),
            **self.extra_env,
        }

    def _fleet_reporter(self) -> dict[str, str]:
        """``FACTORY_FLEET_REPORTER_IMAGE`` from the fleet hub's ``hub.json`` (``fleet_reporter_env``)."""
        return fleet_reporter_env(self.state_dir) if self.fleet else {}

    # -- services ---------------------------------------------------------------------------------------
    def services(self) -> list[Service]:
        p, py, st = self.ports, sys.executable, self.state_dir
        azurite = self.root / "node_modules" / ".bin" / "azurite-blob"
        registry = [py, "-m", "localstack.registry"]  # each with its push-event bridge
        return [
            Service("azurite", [str(azurite), "--blobHost", "127.0.0.1", "--blobPort", str(p.azurite),
                                "--location", str(st / "azurite"), "--skipApiVersionCheck", "--loose"],
                    port_open(p.azurite), port=p.azurite),
            Service("dev-registry", [*registry, "--name", "dev", "--port", str(p.dev_registry),
                                     "--state-dir", str(st), "--eventgrid-endpoint",
                                     f"{self.base_url}/runtime/eventgrid/topic"],
                    http_ok(f"http://127.0.0.1:{p.dev_registry}/v2/"), port=p.dev_registry),
            Service("prod-registry", [*registry, "--name", "prod", "--port", str(p.prod_registry),
                                      "--state-dir", str(st)],
                    http_ok(f"http://127.0.0.1:{p.prod_registry}/v2/"), port=p.prod_registry),
            Service("edge-simulator", [py, "-m", "localstack.edge_simulator", "--port", str(p.edge),
                                       "--state-dir", str(st / "edge"), "--arch", "amd64",
                                       "--policy", str(self.device_policy_path())],
                    http_ok(f"http://127.0.0.1:{p.edge}/health"), port=p.edge),
            Service("edge-simulator-arm64", [py, "-m", "localstack.edge_simulator", "--port", str(p.edge_arm64),
                                             "--state-dir", str(st / "edge-arm64"), "--arch", "arm64",
                                             "--policy", str(self.device_policy_path())],
                    http_ok(f"http://127.0.0.1:{p.edge_arm64}/health"), port=p.edge_arm64),
            Service("mlflow-ui", [py, "-m", "localstack.mlflow_ui", "--port", str(p.mlflow), "--state-dir", str(st)],
                    http_ok(f"http://127.0.0.1:{p.mlflow}/health"), port=p.mlflow),
            *self.fleet_services(),  # before devhost: it reads the hub's reporter image (``_fleet_reporter``)
            Service("devhost", [py, "-m", "devhost", "--port", str(p.devhost), "--app-dir", str(self.root),
                                "--app-module", "function_app", "--state-dir", str(st / "devhost"),
                                "--auth", "keys"],
                    self._devhost_ours, port=p.devhost),
            Service("blob-events", [py, "-m", "localstack.blob_events"], lambda: True),
        ]

    def fleet_services(self) -> list[Service]:
        """The local fleet: one edge simulator per device, then the fleet hub (``localstack/fleet_hub.py``)."""
        if not self.fleet:
            return []
        py, st = sys.executable, self.state_dir
        devices = [Service(f"fleet-{d.id}", [py, "-m", "localstack.edge_simulator", "--port", str(d.port),
                                             "--state-dir", str(st / "fleet" / "devices" / d.id), "--arch", d.arch,
                                             "--policy", str(self.device_policy_path())],
                           http_ok(f"http://127.0.0.1:{d.port}/health"), port=d.port) for d in self.fleet]
        hub = Service("fleet-hub", [py, "-m", "localstack.fleet_hub", "--state-dir", str(st),
                                    "--devices", str(st / "fleet" / "devices.json"),
                                    "--registry", f"127.0.0.1:{self.ports.prod_registry}",
                                    "--signing-key", str(self.signing_key_paths()[0]),
                                    "--models-dir", self.extra_env.get("FACTORY_MODELS_DIR",
                                                                       str(self.root / "models"))],
                      self._hub_ready, start_timeout=600)  # the first start builds the reporter image
        return [*devices, hub]

    def resize_fleet(self, count: int, arm64: int | None = None) -> None:
        """Make the local fleet ``count`` devices (``arm64`` of them arm64: ``fleet_devices``). The same devices
        as now keep their ports and state; a different fleet stops the current one's services and removes its
        containers first (their fleet twins stay in ``fleet.json``: a removed device reports nothing more)."""
        wanted = fleet_devices(count, arm64)
        if [(d.id, d.arch) for d in wanted] == [(d.id, d.arch) for d in self.fleet]:
            return
        self.remove_fleet()
        self.fleet = wanted

    def remove_fleet(self) -> None:
        """Stop the fleet's hub and simulators and remove the devices' containers and networks."""
        from localstack.edge_simulator import EdgeSimulator

        for service in reversed(self.fleet_services()):
            self.stop(service.name)
        for device in self.fleet:
            sim = EdgeSimulator(self.state_dir / "fleet" / "devices" / device.id, arch=device.arch)
            try:
                sim.remove_all()
            finally:
                sim.close()

    def _hub_ready(self) -> bool:
        """The hub this stack started has registered the devices (its ``hub.json`` names its pid)."""
        try:
            return json.loads((self.state_dir / "fleet" / "hub.json").read_text()).get("pid") == self.pid("fleet-hub")
        except (OSError, ValueError):
            return False

    def _devhost_ours(self) -> bool:
        """devhost is ready when the process this stack started (its pid file) answers its status with this
        stack's master key: not whatever else holds the port."""
        pid = self.pid("devhost")
        if pid is None:
            return False
        req = urllib.request.Request(f"{self.base_url}/admin/host/status",
                                     headers={"x-functions-key": self.function_key})  # the master key
        try:
            with urllib.request.urlopen(req, timeout=2) as resp:
                return json.loads(resp.read()).get("pid") == pid
        except (OSError, ValueError):
            return False

    def _pid_file(self, name: str) -> Path:
        return self.state_dir / "pids" / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        """The pid of the service this stack started, while that very process runs (the pid file holds its pid
        and start time: a reused pid is another process, never signalled as the service); else None."""
        try:
            pid_text, _, started = self._pid_file(name).read_text().partition(" ")
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        if not supervision.alive(pid) or not started or supervision.started_at(pid) != started.strip():
            return None
        return pid

    def log_path(self, name: str) -> Path:
        return self.state_dir / "logs" / f"{name}.log"

    def start(self, service: Service, timeout: float = 120) -> None:
        """Start one service unless it runs already, and wait until it answers (this start's process: not
        whatever else holds its port, which is ended when it is the stack's own and refused otherwise)."""
        if self.answers(service):
            return
        self.stop(service.name)  # what is left of an earlier start (its group, its log writer)
        supervision.clear_port(service.name, service.port, self.state_dir)
        private_dir(self.state_dir)
        private_dir(self.log_path(service.name).parent)
        private_dir(self._pid_file(service.name).parent)
        env = {**os.environ, **self.settings_env(), **service.env}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.root), env.get("PYTHONPATH", "")]))
        rotator = start_rotator(self.log_path(service.name), LogLimits.from_env(env))
        try:
            proc = subprocess.Popen(service.argv, cwd=self.root, env=env, stdout=rotator.stdin,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            rotator.stdin.close()  # type: ignore[union-attr]  # the service holds the pipe now
        self._pid_file(service.name).write_text(f"{proc.pid} {supervision.started_at(proc.pid)}")
        self._pid_file(f"{service.name}.log-writer").write_text(str(rotator.pid))
        deadline = time.monotonic() + timeout
        while not self.answers(service):
            if proc.poll() is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    rotator.wait(timeout=5)  # its last words reach the log first
                tail = self.log_path(service.name).read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{service.name} exited with {proc.returncode}; its log ends:\n{tail}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{service.name} did not answer within {timeout:.0f} s "
                                   f"(log: {self.log_path(service.name)})")
            time.sleep(0.2)

    def remove_verification_containers(self) -> list[str]:
        """Remove the image-verification containers this stack's builds left (a killed build activity)."""
        from factory.adapters.local.containers import ContainerError
        from factory.adapters.local.podman import remove_verification_containers, stack_id

        try:
            return remove_verification_containers(stack=stack_id(self.state_dir))
        except (ContainerError, OSError) as exc:  # no container engine: nothing can have been left
            log.warning("could not look for leftover verification containers: %s", exc)
            return []

    def signing_key_paths(self) -> tuple[Path, Path]:
        """The factory's image signing key pair (``factory.adapters.local.signing``)."""
        return key_paths(Settings.from_env(self.settings_env()))

    def device_policy_path(self) -> Path:
        """The simulated devices' ``policy.json`` (``factory.supplychain.policy``), written by ``up``."""
        return self.state_dir / "edge-policy.json"

    def write_device_policy(self) -> None:
        """Images from the prod registry need the factory's signature for their repository on every device."""
        write_policy(self.device_policy_path(), self.signing_key_paths()[1], [f"127.0.0.1:{self.ports.prod_registry}"])

    def up(self, progress: Callable[[str], None] = lambda _msg: None) -> None:
        """Start every service that is not running yet (idempotent)."""
        private_dir(self.state_dir)  # keys, approvals, run state and logs: the owner's only (0700)
        write_private(self.state_dir / "stack.json", json.dumps({"ports": asdict(self.ports),
                                                                 "fleet": [asdict(d) for d in self.fleet]}))
        if self.fleet:
            private_dir(self.state_dir / "fleet")
            write_private(self.state_dir / "fleet" / "devices.json", json.dumps(
                [{"id": d.id, "arch": d.arch, "url": f"http://127.0.0.1:{d.port}"} for d in self.fleet]))
        if ensure_key_pair(*self.signing_key_paths()):
            progress(f"made the image signing key pair {self.signing_key_paths()[0]} (public: .pub beside it)")
        self.write_device_policy()
        if self.pid("devhost") is None:  # no build can be running: what verification left is an orphan
            self.remove_verification_containers()
        for service in self.services():
            progress(f"starting {service.name}")
            self.start(service, timeout=service.start_timeout)

    def answers(self, service: Service) -> bool:
        """The service this stack started is running and ready, and holds its port (its process group)."""
        pid = self.pid(service.name)
        return pid is not None and service.ready() and supervision.holds_port(pid, service.port)

    def stop(self, name: str, timeout: float = 10) -> None:
        """End the service's process group, then its log writer (which ends once the group has)."""
        pid = self.pid(name)
        if pid is None:
            supervision.end_writer(self._pid_file(f"{name}.log-writer"))
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.pid(name) and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self._pid_file(name).unlink(missing_ok=True)
        supervision.end_writer(self._pid_file(f"{name}.log-writer"))

    def kill(self, name: str) -> None:
        """SIGKILL a service (crash tests)."""
        pid = self.pid(name)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

    def upload(self, model: str, data: Path, name: str | None = None) -> tuple[str, str, str]:
        """Upload a CSV to ``incoming/<model>/``; returns ``(blob URL, ETag, the run id it will start)``."""
        from factory.adapters.azure.blob import BlobStorage
        from factory.runs import INCOMING_CONTAINER, run_id_for_blob
        from factory.settings import Settings

        store = BlobStorage.from_settings(Settings.from_env(self.settings_env()))
        blob = f"{model}/{name or time.strftime('%Y%m%dT%H%M%S') + '-' + data.name}"
        url = store.upload(INCOMING_CONTAINER, blob, data)
        etag = store.properties(url).etag
        return url, etag, run_id_for_blob(model, url, etag)

    def down(self) -> None:
        """Stop every service, in reverse order of start; then end any process of this stack still running
        (an orphan of a service killed alone, a log writer): nothing of the stack is left."""
        self.remove_fleet()  # a fleet device's model containers would otherwise keep serving (and using memory)
        for service in reversed(self.services()):
            self.stop(service.name)
        left = supervision.stack_processes(self.state_dir)
        if left:
            log.warning("ending %d leftover process(es) of the stack: %s", len(left), left)
            supervision.end(left)
        self.remove_verification_containers()
