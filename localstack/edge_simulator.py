"""The local IoT Edge device: a simulator that applies the same deployment manifest IoT Hub would get. Its
client, the ``EdgeDeployer`` adapter, is ``factory.adapters.local.edge.EdgeSimulatorDeployer``. This module
is the device (its deployment, twins, lease; persisted) and the command line; its containers are in
``edge_containers``, the modules' twin sockets in ``edge_twins``, the HTTP API in ``edge_api``.

The simulator (``python -m localstack.edge_simulator --port P --state-dir D``):
- validates the manifest against the published schema, stops and removes what the previous deployment ran,
  then runs each custom module of ``$edgeAgent`` as a podman container on a private, internal podman network
  it creates (module name = host name, like IoT Edge's module network), with the module's env and the
  createOptions it supports (Env, Cmd, Entrypoint, User, WorkingDir, Labels, ExposedPorts,
  HostConfig.Memory/NanoCpus/PortBindings bound on 127.0.0.1 only); others are listed as warnings in the
  ``$edgeAgent`` reported properties. System modules (edgeAgent, edgeHub) are recorded, not run.
- keeps module twins: desired properties from the manifest, reported properties from the modules. Each module
  reaches its own twin through a unix socket mounted into its container (as the IoT Edge workload socket is),
  ``FACTORY_EDGE_SIM_TWIN_URL=unix:///run/factory-edge/twin.sock``: ``GET /twin``, ``PATCH /twin/reported``.
  The socket identifies the module; nothing listens beyond 127.0.0.1.
- HTTP API on 127.0.0.1: ``GET /health``, ``GET|PUT|DELETE /deployment``, ``GET /modules``,
  ``GET /modules/<name>/twin``, ``GET /modules/<name>/logs``, ``GET|POST /lease``, ``DELETE /lease?holder=``
  (one smoke test at a time: the device lease, with an expiry; waiting runs get it in the order they asked).
- ``--arch amd64|arm64`` makes it a device of that architecture: it runs that variant of an image index (an
  arm64 device on an amd64 host runs it under qemu emulation), and reports in ``$edgeAgent``'s
  ``pulledBytes`` the compressed bytes each module's image cost it (layers it did not hold before).
- images come from local storage or are pulled (plain-http ``--tls-verify=false`` for 127.0.0.1/localhost
  registries, ``--creds`` from the manifest's registryCredentials otherwise).
- ``--policy policy.json`` (containers-policy.json format, ``factory.supplychain.policy``): before each
  deployment runs a module, an image under a ``sigstoreSigned`` scope must carry the key's cosign signature for
  its repository; it is then pulled and run by that digest. A refused module is not run: ``$edgeAgent``
  reports it ``failed`` with the reason in ``statusDescription`` (podman's own policy check cannot do this on
  Debian, whose podman is built with sigstore disabled).

"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import signal
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from contract import EdgeLease
from factory.adapters.local.containers import ContainerEngine, engine
from factory.edge.manifest import ManifestError, validate_manifest
from factory.edge.pool import LeaseState, Waiter, fair_lease
from factory.supplychain.policy import PolicyError, PullPolicy
from localstack.edge_api import api_handler
from localstack.edge_containers import SOCKET_DIR_IN_CONTAINER, TWIN_URL_ENV, ModuleContainers, SimulatorError
from localstack.edge_twins import ModuleSockets, merge_patch

__all__ = ["SOCKET_DIR_IN_CONTAINER", "TWIN_URL_ENV", "EdgeSimulator", "SimulatorError", "main", "merge_patch",
           "serve"]

LOG = logging.getLogger("factory.edge_sim")
DEFAULT_URL = "http://127.0.0.1:7075"
SYSTEM_TWINS = ("$edgeAgent", "$edgeHub")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class EdgeSimulator:
    """One simulated IoT Edge device, its containers, network and module twins, persisted under ``state_dir``."""

    def __init__(self, state_dir: Path, container_engine: ContainerEngine | None = None, arch: str = "",
                 policy: PullPolicy | None = None) -> None:
        self.arch = arch  # "" runs images for the host; amd64/arm64 pulls and runs that variant of an index
        self.state_dir = Path(state_dir).resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.engine = container_engine or engine()
        self.instance = hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:10]
        self.containers = ModuleContainers(self.engine, self.state_dir, self.instance, arch, policy)
        self.network = self.containers.network
        self.label = self.containers.label
        self._apply_lock = threading.Lock()
        self._state_lock = threading.RLock()
        self._sockets = ModuleSockets(self.state_dir, self)
        self.content: dict[str, Any] = self._load("deployment.json", {})
        self.reported: dict[str, dict[str, Any]] = self._load("reported.json", {})
        self.lease_state: dict[str, Any] = self._load("lease.json", {})
        self.lease_queue: tuple[Waiter, ...] = ()  # the runs waiting for the device, oldest first (not saved)
        self.layers_held: list[str] = self._load("layers.json", [])  # compressed layer digests pulled so far
        self.pulled: dict[str, int] = {}  # module -> bytes downloaded for it by the last deployment
        self.refused: dict[str, dict[str, Any]] = self._load("refused.json", {})  # module -> image, reason
        self.warnings: list[str] = []
        self.last_applied = ""
        for module in self._custom_modules(self.content):
            self._start_socket(module)

    # ---- persistence -------------------------------------------------------------------------------------
    def _load(self, name: str, default: Any) -> Any:
        path = self.state_dir / name
        return json.loads(path.read_text()) if path.exists() else default

    def _save(self) -> None:
        for name, value in (("deployment.json", self.content), ("reported.json", self.reported),
                            ("lease.json", self.lease_state), ("layers.json", self.layers_held),
                            ("refused.json", self.refused)):
            tmp = self.state_dir / f".{name}.tmp"
            tmp.write_text(json.dumps(value, indent=1))
            tmp.replace(self.state_dir / name)

    # ---- twins ------------------------------------------------------------------------------------------
    @staticmethod
    def _custom_modules(content: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return content.get("$edgeAgent", {}).get("properties.desired", {}).get("modules", {}) if content else {}

    def module_names(self) -> list[str]:
        return [*SYSTEM_TWINS, *self._custom_modules(self.content)] if self.content else []

    def twin(self, module: str) -> dict[str, Any] | None:
        """``{"desired", "reported"}`` of a deployed module (None when the module is not deployed)."""
        with self._state_lock:
            if module not in self.module_names():
                return None
            desired = self.content.get(module, {}).get("properties.desired", {})
            reported = self._edge_agent_reported() if module == "$edgeAgent" else self.reported.get(module, {})
            return {"desired": desired, "reported": reported}

    def patch_reported(self, module: str, patch: dict[str, Any]) -> dict[str, Any]:
        with self._state_lock:
            if module not in self._custom_modules(self.content):
                raise KeyError(module)
            self.reported[module] = merge_patch(self.reported.get(module, {}), patch)
            self._save()
            return self.reported[module]

    def lease(self, holder: str, ttl_seconds: float, now: dt.datetime | None = None) -> EdgeLease:
        """Take or renew the device lease for ``holder`` by the factory's one fair-lease rule
        (``factory.edge.pool.fair_lease``: first asked, first served; at most ``MAX_WAITERS`` waiting; a
        waiter silent for ``WAITER_STALE_S`` leaves the queue). ``now``: the clock, for tests."""
        if not holder:
            raise SimulatorError("a lease needs a holder (the run id)")
        with self._state_lock:
            current = self.lease_state
            state = LeaseState(str(current.get("holder", "")), str(current.get("expires_at", "")),
                               self.lease_queue)
            new, answer = fair_lease(state, holder, ttl_seconds, now or dt.datetime.now(dt.UTC))
            self.lease_queue = new.queue
            held = {"holder": new.holder, "expires_at": new.expires_at} if new.holder else {}
            if held != current:
                self.lease_state = held
                self._save()
            return answer

    def release(self, holder: str) -> None:
        with self._state_lock:
            if self.lease_state.get("holder") == holder:
                self.lease_state = {}
                self._save()

    def _edge_agent_reported(self) -> dict[str, Any]:
        return {"lastDesiredStatus": {"code": 200, "description": self.last_applied}, "warnings": self.warnings,
                "modules": self.module_status(), "architecture": self.arch or "host", "pulledBytes": self.pulled}

    # ---- containers (edge_containers) -------------------------------------------------------------------
    def module_status(self) -> dict[str, Any]:
        """Each simulator container's module name, runtime status and exit code (``podman ps -a``); a module
        the device's policy refused is ``failed`` with the reason in ``statusDescription``."""
        status = self.containers.status()
        with self._state_lock:
            refused = dict(self.refused)
        return {**status, **{module: {"runtimeStatus": "failed", "exitCode": 0, "image": r["image"],
                                      "statusDescription": r["reason"], "container": ""}
                             for module, r in refused.items()}}

    def apply(self, content: dict[str, Any]) -> dict[str, Any]:
        """Apply a deployment's modules content: validate, remove the previous deployment's containers, run the
        new modules in startup order. ``{}`` removes every custom module (a device with no deployment)."""
        if content:
            try:
                validate_manifest({"modulesContent": content})
            except ManifestError as exc:
                raise SimulatorError(str(exc)) from exc
        with self._apply_lock:
            self.containers.remove()
            self._sockets.stop_all()
            modules = self._custom_modules(content)
            with self._state_lock:
                self.content = content
                self.reported = {m: r for m, r in self.reported.items() if m in modules}
                self.warnings = []
                self.refused = {}
                self.last_applied = _now()
                self._save()
            if not modules:
                return {"modules": {}, "warnings": []}
            self.containers.ensure_network()
            credentials = content["$edgeAgent"]["properties.desired"]["runtime"]["settings"].get(
                "registryCredentials", {})
            warnings: list[str] = []
            self.pulled = {}
            for module, spec in sorted(modules.items(), key=lambda kv: kv[1].get("startupOrder", 4294967295)):
                self._start_socket(module)
                try:
                    pinned = self.containers.admit(module, spec["settings"]["image"])
                except SimulatorError as exc:  # not run; the device reports why in $edgeAgent, as a failed module
                    LOG.warning("%s", exc)
                    with self._state_lock:
                        self.refused[module] = {"image": spec["settings"]["image"], "reason": str(exc)}
                        self._save()
                    continue
                image, self.pulled[module], self.layers_held = self.containers.resolve(pinned, self.layers_held)
                self.containers.pull(module, image, spec.get("imagePullPolicy", "on-create"), credentials)
                spec = {**spec, "settings": {**spec["settings"], "image": image}}
                args = self.containers.run_args(module, spec, warnings)
                if spec.get("status", "running") == "stopped":
                    args[0:2] = ["create"]
                self.containers.start(module, args, image)
            with self._state_lock:
                self.warnings = warnings
                self._save()
            LOG.info("applied deployment: %s", ", ".join(modules))
            return {"modules": self.module_status(), "warnings": warnings}

    def remove_all(self) -> None:
        """Remove every container, the network and the deployment (``--remove-all``, and test teardown)."""
        self.apply({})
        self.containers.remove_network()

    def logs(self, module: str, tail: int = 200) -> str:
        return self.containers.logs(module, tail)

    # ---- module sockets (edge_twins) --------------------------------------------------------------------
    def _start_socket(self, module: str) -> None:
        self._sockets.start(module)

    def close(self) -> None:
        self._sockets.stop_all()


def serve(port: int, state_dir: Path, host: str = "127.0.0.1", arch: str = "",
          policy: PullPolicy | None = None) -> None:
    """Run the simulator's HTTP API until SIGTERM/SIGINT (containers keep running, as on a real device)."""
    sim = EdgeSimulator(state_dir, arch=arch, policy=policy)
    server = ThreadingHTTPServer((host, port), api_handler(sim))
    server.daemon_threads = True
    url = f"http://{host}:{server.server_address[1]}"
    (sim.state_dir / "edge-sim.json").write_text(json.dumps({"url": url, "pid": os.getpid()}))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"edge simulator listening on {url} (state {sim.state_dir}, network {sim.network})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sim.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local IoT Edge device simulator (HTTP API on 127.0.0.1).")
    parser.add_argument("--port", type=int, default=7075, help="0 picks a free port (see STATE_DIR/edge-sim.json)")
    parser.add_argument("--state-dir", type=Path, default=Path(".factory/edge-sim"))
    parser.add_argument("--remove-all", action="store_true", help="remove the simulator's containers and network")
    parser.add_argument("--arch", choices=["amd64", "arm64"], default=None,
                        help="the device's architecture: pull and run that variant of an image index (arm64 under "
                             "qemu emulation on an amd64 host); default: the host's images as they are")
    parser.add_argument("--policy", type=Path, default=None,
                        help="the device's containers-policy.json: images under a sigstoreSigned scope are pulled "
                             "only by digest after their cosign signature verified with its keyPath")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    if args.remove_all:
        sim = EdgeSimulator(args.state_dir)
        with contextlib.closing(sim):
            sim.remove_all()
        return 0
    try:
        policy = PullPolicy.load(args.policy) if args.policy else None
    except PolicyError as exc:
        print(f"edge simulator: {exc}", file=sys.stderr)
        return 2
    serve(args.port, args.state_dir, arch=args.arch or "", policy=policy)
    return 0


if __name__ == "__main__":
    sys.exit(main())
