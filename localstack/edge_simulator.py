"""The local IoT Edge device: a simulator that applies the same deployment manifest IoT Hub would get. Its
client, the ``EdgeDeployer`` adapter, is ``factory.adapters.local.edge.EdgeSimulatorDeployer``.

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
import socketserver
import stat
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from factory.adapters.local import emulation
from factory.adapters.local.containers import ContainerEngine, ContainerError, engine
from factory.edge.manifest import ManifestError, join_create_options, validate_manifest

LOG = logging.getLogger("factory.edge_sim")
SOCKET_DIR_IN_CONTAINER = "/run/factory-edge"
TWIN_URL_ENV = "FACTORY_EDGE_SIM_TWIN_URL"
DEFAULT_URL = "http://127.0.0.1:7075"
RESTART_POLICIES = {"never": "no", "on-failure": "on-failure", "on-unhealthy": "always", "always": "always"}
SYSTEM_TWINS = ("$edgeAgent", "$edgeHub")
WAITER_STALE_S = 180.0  # a run waiting for the lease that has not asked again for this long leaves the queue


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7396), as IoT Hub applies reported-property patches: ``None`` deletes a key."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_patch(result[key], value)
        else:
            result[key] = value
    return result


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class SimulatorError(RuntimeError):
    """A deployment could not be applied; the message says which module and why."""


class EdgeSimulator:
    """One simulated IoT Edge device, its containers, network and module twins, persisted under ``state_dir``."""

    def __init__(self, state_dir: Path, container_engine: ContainerEngine | None = None, arch: str = "") -> None:
        self.arch = arch  # "" runs images for the host; amd64/arm64 pulls and runs that variant of an index
        self.state_dir = Path(state_dir).resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.engine = container_engine or engine()
        self.instance = hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:10]
        self.network = f"mfedge-{self.instance}"
        self.label = f"factory.edge-sim={self.instance}"
        self._apply_lock = threading.Lock()
        self._state_lock = threading.RLock()
        self._sockets: dict[str, socketserver.BaseServer] = {}
        self.content: dict[str, Any] = self._load("deployment.json", {})
        self.reported: dict[str, dict[str, Any]] = self._load("reported.json", {})
        self.lease_state: dict[str, Any] = self._load("lease.json", {})
        self.waiting: dict[str, list[float]] = {}  # holder -> [first asked, last asked] (monotonic seconds)
        self.layers_held: list[str] = self._load("layers.json", [])  # compressed layer digests pulled so far
        self.pulled: dict[str, int] = {}  # module -> bytes downloaded for it by the last deployment
        self._pulled_now = 0
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
                            ("lease.json", self.lease_state), ("layers.json", self.layers_held)):
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

    def lease(self, holder: str, ttl_seconds: float) -> dict[str, Any]:
        """Take or renew the device lease for ``holder`` unless another holder's lease is still valid. Runs
        waiting for the device get it in the order they first asked (fair: none starves); a waiter that has
        not asked again for ``WAITER_STALE_S`` is dropped from the queue."""
        if not holder:
            raise SimulatorError("a lease needs a holder (the run id)")
        with self._state_lock:
            now = dt.datetime.now(dt.UTC)
            tick = time.monotonic()
            current = self.lease_state
            valid = bool(current) and dt.datetime.fromisoformat(current["expires_at"]) > now
            self.waiting = {h: t for h, t in self.waiting.items() if tick - t[1] < WAITER_STALE_S}
            if not (valid and current["holder"] == holder):
                self.waiting.setdefault(holder, [tick, tick])[1] = tick
            if valid and current["holder"] != holder:
                return {"acquired": False, "queue": self._queue(), **current}
            first = min(self.waiting, key=lambda h: self.waiting[h][0]) if self.waiting else holder
            if first != holder and not (valid and current["holder"] == holder):
                return {"acquired": False, "holder": "", "expires_at": "", "queue": self._queue(),
                        "reason": f"run {first} asked first"}
            self.waiting.pop(holder, None)
            self.lease_state = {"holder": holder,
                                "expires_at": (now + dt.timedelta(seconds=ttl_seconds)).isoformat()}
            self._save()
            return {"acquired": True, **self.lease_state}

    def _queue(self) -> list[str]:
        return sorted(self.waiting, key=lambda h: self.waiting[h][0])

    def release(self, holder: str) -> None:
        with self._state_lock:
            if self.lease_state.get("holder") == holder:
                self.lease_state = {}
                self._save()

    def _edge_agent_reported(self) -> dict[str, Any]:
        return {"lastDesiredStatus": {"code": 200, "description": self.last_applied}, "warnings": self.warnings,
                "modules": self.module_status(), "architecture": self.arch or "host", "pulledBytes": self.pulled}

    # ---- containers -------------------------------------------------------------------------------------
    def _container(self, module: str) -> str:
        return f"{self.network}-{module}"

    def module_status(self) -> dict[str, Any]:
        """Each simulator container's module name, runtime status and exit code (``podman ps -a``)."""
        proc = self.engine.run(["ps", "-a", "--filter", f"label={self.label}", "--format", "json"], check=False)
        status: dict[str, Any] = {}
        for item in json.loads(proc.stdout or "[]") if proc.returncode == 0 else []:
            module = (item.get("Labels") or {}).get("factory.edge-module", "")
            state = item.get("State", "")
            status[module] = {"runtimeStatus": "running" if state == "running" else
                              ("failed" if item.get("ExitCode") else state),
                              "exitCode": item.get("ExitCode", 0), "image": item.get("Image", ""),
                              "container": (item.get("Names") or [""])[0]}
        return status

    def _remove_containers(self) -> None:
        proc = self.engine.run(["ps", "-a", "-q", "--filter", f"label={self.label}"], check=False)
        ids = proc.stdout.split()
        if ids:
            self.engine.run(["rm", "-f", "-t", "2", *ids])

    def _ensure_network(self) -> None:
        if self.engine.run(["network", "exists", self.network], check=False).returncode != 0:
            self.engine.run(["network", "create", "--internal", "--label", self.label, self.network])

    def _resolve(self, image: str) -> str:
        """The reference to run: for a registry image index, this device's architecture's image by digest
        (several simulated devices share one image store, so each must name its own variant); counts the
        compressed bytes of the layers this device did not hold yet into ``self.pulled``."""
        if not self.arch or "/" not in image or image.startswith("localhost/"):
            return image
        from factory.packaging.layers import read_image, repository_of

        try:
            images = read_image(image)
        except (LookupError, OSError, ValueError):
            return image  # not in a readable registry (a local image): run it as it is
        if self.arch not in images:
            raise SimulatorError(f"{image} has no {self.arch} image (it has {', '.join(sorted(images))})")
        variant = images[self.arch]
        held = set(self.layers_held)
        self._pulled_now = variant.manifest_bytes + variant.config_bytes + sum(
            layer.size for layer in variant.layers if layer.digest not in held)
        self.layers_held = sorted(held | {layer.digest for layer in variant.layers})
        return f"{repository_of(image)}@{variant.digest}"

    def _pull(self, module: str, image: str, policy: str, credentials: dict[str, Any]) -> None:
        if self.engine.image_exists(image):
            return
        if policy == "never":
            raise SimulatorError(f"module {module}: image {image} is not present and imagePullPolicy is 'never'")
        args = ["pull", "-q"]
        host = image.split("/", 1)[0]
        if host.startswith(("127.0.0.1", "localhost")):
            args.append("--tls-verify=false")
        for cred in credentials.values():
            if image.startswith(cred["address"].rstrip("/") + "/"):
                args += ["--creds", f"{cred['username']}:{cred['password']}"]
                break
        try:
            self.engine.run([*args, image], timeout=900)
        except ContainerError as exc:
            raise SimulatorError(f"module {module}: cannot pull {image}: {exc}") from exc

    def _run_args(self, module: str, spec: dict[str, Any], warnings: list[str]) -> list[str]:
        """``podman run`` arguments for one module of the manifest."""
        settings = spec.get("settings", {})
        options = join_create_options(settings)
        args = ["run", "-d", "--name", self._container(module), "--label", self.label,
                "--label", f"factory.edge-module={module}", "--network", self.network,
                "--network-alias", module, "--hostname", module,
                "--restart", RESTART_POLICIES[spec.get("restartPolicy", "always")],
                "-v", f"{self.state_dir / 'modules' / module}:{SOCKET_DIR_IN_CONTAINER}",
                "-e", f"{TWIN_URL_ENV}=unix://{SOCKET_DIR_IN_CONTAINER}/twin.sock"]
        for name, value in spec.get("env", {}).items():
            args += ["-e", f"{name}={value['value']}"]
        for item in options.pop("Env", []) or []:
            args += ["-e", item]
        entrypoint = options.pop("Entrypoint", None)
        if entrypoint:
            args += ["--entrypoint", json.dumps(entrypoint if isinstance(entrypoint, list) else [entrypoint])]
        if options.get("User"):
            args += ["--user", str(options.pop("User"))]
        if options.get("WorkingDir"):
            args += ["--workdir", str(options.pop("WorkingDir"))]
        for key, value in (options.pop("Labels", {}) or {}).items():
            args += ["--label", f"{key}={value}"]
        for port in options.pop("ExposedPorts", {}) or {}:
            args += ["--expose", port]
        host_config = options.pop("HostConfig", {}) or {}
        if host_config.get("Memory"):
            args += ["--memory", str(int(host_config.pop("Memory")))]
        if host_config.get("NanoCpus"):
            args += ["--cpus", f"{int(host_config.pop('NanoCpus')) / 1e9:g}"]
        for port, bindings in (host_config.pop("PortBindings", {}) or {}).items():
            for binding in bindings or []:
                args += ["-p", f"127.0.0.1:{binding.get('HostPort', '')}:{port}"]
        cmd = options.pop("Cmd", None)
        options.pop("Hostname", None)
        warnings += [f"module {module}: createOptions {key} is not supported by the simulator (ignored)"
                     for key in options]
        warnings += [f"module {module}: createOptions HostConfig.{key} is not supported by the simulator (ignored)"
                     for key in host_config]
        args += self._emulation_args(settings["image"])
        args.append(settings["image"])
        if cmd:
            args += cmd if isinstance(cmd, list) else [cmd]
        return args

    def _emulation_args(self, image: str) -> list[str]:
        """What a container of the image's architecture needs under qemu-user (``emulation.run_args``)."""
        proc = self.engine.run(["image", "inspect", "--format", "{{.Architecture}}", image], check=False)
        return emulation.run_args((proc.stdout or "").strip(), self.state_dir / "emulation")

    def apply(self, content: dict[str, Any]) -> dict[str, Any]:
        """Apply a deployment's modules content: validate, remove the previous deployment's containers, run the
        new modules in startup order. ``{}`` removes every custom module (a device with no deployment)."""
        if content:
            try:
                validate_manifest({"modulesContent": content})
            except ManifestError as exc:
                raise SimulatorError(str(exc)) from exc
        with self._apply_lock:
            self._remove_containers()
            for module in list(self._sockets):
                self._stop_socket(module)
            modules = self._custom_modules(content)
            with self._state_lock:
                self.content = content
                self.reported = {m: r for m, r in self.reported.items() if m in modules}
                self.warnings = []
                self.last_applied = _now()
                self._save()
            if not modules:
                return {"modules": {}, "warnings": []}
            self._ensure_network()
            credentials = content["$edgeAgent"]["properties.desired"]["runtime"]["settings"].get(
                "registryCredentials", {})
            warnings: list[str] = []
            self.pulled = {}
            for module, spec in sorted(modules.items(), key=lambda kv: kv[1].get("startupOrder", 4294967295)):
                self._start_socket(module)
                self._pulled_now = 0
                image = self._resolve(spec["settings"]["image"])
                self.pulled[module] = self._pulled_now
                self._pull(module, image, spec.get("imagePullPolicy", "on-create"), credentials)
                spec = {**spec, "settings": {**spec["settings"], "image": image}}
                args = self._run_args(module, spec, warnings)
                if spec.get("status", "running") == "stopped":
                    args[0:2] = ["create"]
                try:
                    self.engine.run(args, timeout=300)
                except ContainerError as exc:
                    raise SimulatorError(f"module {module}: cannot start {spec['settings']['image']}: {exc}") from exc
            with self._state_lock:
                self.warnings = warnings
                self._save()
            LOG.info("applied deployment: %s", ", ".join(modules))
            return {"modules": self.module_status(), "warnings": warnings}

    def remove_all(self) -> None:
        """Remove every container, the network and the deployment (``--remove-all``, and test teardown)."""
        self.apply({})
        self.engine.run(["network", "rm", "-f", self.network], check=False)

    def logs(self, module: str, tail: int = 200) -> str:
        proc = self.engine.run(["logs", "--tail", str(tail), self._container(module)], check=False)
        return proc.stdout + proc.stderr

    # ---- module sockets ---------------------------------------------------------------------------------
    def _start_socket(self, module: str) -> None:
        folder = self.state_dir / "modules" / module
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)
        path = folder / "twin.sock"
        path.unlink(missing_ok=True)
        server = _bind_socket(folder, path.name, _module_handler(self, module))
        path.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IWGRP | stat.S_IROTH | stat.S_IWOTH)
        threading.Thread(target=server.serve_forever, name=f"twin-{module}", daemon=True).start()
        self._sockets[module] = server

    def _stop_socket(self, module: str) -> None:
        server = self._sockets.pop(module, None)
        if server is not None:
            server.shutdown()
            server.server_close()

    def close(self) -> None:
        for module in list(self._sockets):
            self._stop_socket(module)


class _ModuleSocketServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


MAX_SOCKET_PATH = 100  # AF_UNIX paths are at most 107 bytes; a deep state folder (a test's tmp dir) is more


def _bind_socket(folder: Path, name: str, handler: type[BaseHTTPRequestHandler]) -> _ModuleSocketServer:
    """A unix socket server at ``folder/name``, bound through ``/proc/self/fd/<folder>`` when the full path is
    longer than AF_UNIX allows (the socket is made in the folder all the same; the container sees its mount)."""
    path = folder / name
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        return _ModuleSocketServer(str(path), handler)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return _ModuleSocketServer(f"/proc/self/fd/{fd}/{name}", handler)
    finally:
        os.close(fd)


class _JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def address_string(self) -> str:
        return str(self.client_address or "unix")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (BaseHTTPRequestHandler's signature)
        LOG.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null")


def _module_handler(sim: EdgeSimulator, module: str) -> type[BaseHTTPRequestHandler]:
    """The twin endpoint one module sees through its socket: its own twin and nothing else."""

    class ModuleHandler(_JsonHandler):
        def do_GET(self) -> None:
            twin = sim.twin(module)
            if self.path != "/twin" or twin is None:
                self._send(404, {"error": f"module {module}: no twin at {self.path}"})
            else:
                self._send(200, twin)

        def do_PATCH(self) -> None:
            if self.path != "/twin/reported":
                self._send(404, {"error": f"no {self.path}"})
                return
            patch = self._body()
            if not isinstance(patch, dict):
                self._send(400, {"error": "reported-property patch must be a JSON object"})
                return
            try:
                self._send(200, sim.patch_reported(module, patch))
            except KeyError:
                self._send(404, {"error": f"module {module} is not deployed"})

    return ModuleHandler


def _api_handler(sim: EdgeSimulator) -> type[BaseHTTPRequestHandler]:
    class ApiHandler(_JsonHandler):
        def do_GET(self) -> None:
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            if parts == ["health"]:
                self._send(200, {"ok": True, "instance": sim.instance, "network": sim.network})
            elif parts == ["deployment"]:
                self._send(200, {"modulesContent": sim.content})
            elif parts == ["modules"]:
                self._send(200, sim.module_status())
            elif parts == ["lease"]:
                self._send(200, sim.lease_state)
            elif len(parts) == 3 and parts[0] == "modules" and parts[2] == "twin":
                twin = sim.twin(parts[1])
                self._send(404, {"error": f"module {parts[1]} is not deployed"}) if twin is None else \
                    self._send(200, twin)
            elif len(parts) == 3 and parts[0] == "modules" and parts[2] == "logs":
                self._send(200, sim.logs(parts[1]), "text/plain")
            else:
                self._send(404, {"error": f"no {self.path}"})

        def do_POST(self) -> None:
            body = self._body()
            if self.path != "/lease" or not isinstance(body, dict):
                self._send(404, {"error": f"no {self.path}"})
                return
            try:
                self._send(200, sim.lease(str(body.get("holder", "")), float(body.get("ttl_seconds", 3600))))
            except (SimulatorError, ValueError) as exc:
                self._send(400, {"error": str(exc)})

        def do_PUT(self) -> None:
            if self.path != "/deployment":
                self._send(404, {"error": f"no {self.path}"})
                return
            body = self._body()
            if not isinstance(body, dict) or not isinstance(body.get("modulesContent"), dict):
                self._send(400, {"error": 'body must be {"modulesContent": {...}}'})
                return
            self._apply(body["modulesContent"])

        def do_DELETE(self) -> None:
            path, _, query = self.path.partition("?")
            if path == "/lease":
                sim.release(urllib.parse.parse_qs(query).get("holder", [""])[0])
                self._send(200, sim.lease_state)
            elif path == "/deployment":
                self._apply({})
            else:
                self._send(404, {"error": f"no {self.path}"})

        def _apply(self, content: dict[str, Any]) -> None:
            try:
                self._send(200, sim.apply(content))
            except (SimulatorError, ContainerError) as exc:
                self._send(422, {"error": str(exc)})

    return ApiHandler


def serve(port: int, state_dir: Path, host: str = "127.0.0.1", arch: str = "") -> None:
    """Run the simulator's HTTP API until SIGTERM/SIGINT (containers keep running, as on a real device)."""
    sim = EdgeSimulator(state_dir, arch=arch)
    server = ThreadingHTTPServer((host, port), _api_handler(sim))
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    if args.remove_all:
        sim = EdgeSimulator(args.state_dir)
        with contextlib.closing(sim):
            sim.remove_all()
        return 0
    serve(args.port, args.state_dir, arch=args.arch or "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
