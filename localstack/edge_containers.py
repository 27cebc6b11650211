"""The edge simulator's containers: each custom module of a deployment as a podman container on the device's
private, internal network (module name = host name, as IoT Edge's module network), with the createOptions
the simulator supports, that architecture's variant of an image index, and the bytes its layers cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from factory.adapters.local import emulation
from factory.adapters.local.containers import ContainerEngine, ContainerError
from factory.edge.manifest import join_create_options
from factory.supplychain.policy import PullPolicy, PullRefused, check_pull

SOCKET_DIR_IN_CONTAINER = "/run/factory-edge"
TWIN_URL_ENV = "FACTORY_EDGE_SIM_TWIN_URL"
RESTART_POLICIES = {"never": "no", "on-failure": "on-failure", "on-unhealthy": "always", "always": "always"}


class SimulatorError(RuntimeError):
    """A deployment could not be applied; the message says which module and why."""


class ModuleContainers:
    """The containers, network and image pulls of one simulated device (``instance``), all labelled with it."""

    def __init__(self, container_engine: ContainerEngine, state_dir: Path, instance: str, arch: str = "",
                 policy: PullPolicy | None = None) -> None:
        self.engine = container_engine
        self.policy = policy  # the device's policy.json; None: pull anything (a device without a policy)
        self.state_dir = state_dir
        self.arch = arch  # "" runs images for the host; amd64/arm64 pulls and runs that variant of an index
        self.network = f"mfedge-{instance}"
        self.label = f"factory.edge-sim={instance}"

    def container(self, module: str) -> str:
        return f"{self.network}-{module}"

    def status(self) -> dict[str, Any]:
        """Each simulator container's module name, runtime status and exit code (``podman ps -a``)."""
        proc = self.engine.run(["ps", "-a", "--filter", f"label={self.label}", "--format", "json"], check=False)
        status: dict[str, Any] = {}
        for item in json.loads(proc.stdout or "[]") if proc.returncode == 0 else []:
            module = (item.get("Labels") or {}).get("factory.edge-module", "")
            state = item.get("State", "")
            status[module] = {"runtimeStatus": "running" if state == "running" else
                              ("failed" if item.get("ExitCode") else state),
                              "exitCode": item.get("ExitCode", 0), "restarts": item.get("Restarts", 0),
                              "image": item.get("Image", ""),
                              "container": (item.get("Names") or [""])[0]}
        return status

    def remove(self) -> None:
        """Remove every container of this device."""
        proc = self.engine.run(["ps", "-a", "-q", "--filter", f"label={self.label}"], check=False)
        ids = proc.stdout.split()
        if ids:
            self.engine.run(["rm", "-f", "-t", "2", *ids])

    def ensure_network(self) -> None:
        if self.engine.run(["network", "exists", self.network], check=False).returncode != 0:
            self.engine.run(["network", "create", "--internal", "--label", self.label, self.network])

    def remove_network(self) -> None:
        self.engine.run(["network", "rm", "-f", self.network], check=False)

    def admit(self, module: str, image: str) -> str:
        """The reference to pull for ``image`` under the device's policy (``registry/repo@digest`` once its
        signature verified), checked before every deployment, cached image or not. ``SimulatorError`` with the
        policy's reason when refused."""
        if self.policy is None:
            return image
        from factory.supplychain.oci import Registry

        try:
            return check_pull(self.policy, image, Registry)
        except PullRefused as exc:
            raise SimulatorError(f"module {module}: refused by the device's signature policy: {exc}") from None

    def resolve(self, image: str, layers_held: list[str]) -> tuple[str, int, list[str]]:
        """The reference to run, the compressed bytes it costs the device and the layers it holds after: for a
        registry image index, this device's architecture's image by digest (several simulated devices share one
        image store, so each must name its own variant) and the layers of it the device did not hold yet."""
        if not self.arch or "/" not in image or image.startswith("localhost/"):
            return image, 0, layers_held
        from factory.adapters.local.registry import skopeo_manifest
        from factory.packaging.layers import read_image, repository_of

        try:
            images = read_image(image, skopeo_manifest)
        except (LookupError, OSError, ValueError):
            return image, 0, layers_held  # not in a readable registry (a local image): run it as it is
        if self.arch not in images:
            raise SimulatorError(f"{image} has no {self.arch} image (it has {', '.join(sorted(images))})")
        variant = images[self.arch]
        held = set(layers_held)
        pulled = variant.manifest_bytes + variant.config_bytes + sum(
            layer.size for layer in variant.layers if layer.digest not in held)
        return (f"{repository_of(image)}@{variant.digest}", pulled,
                sorted(held | {layer.digest for layer in variant.layers}))

    def pull(self, module: str, image: str, policy: str, credentials: dict[str, Any]) -> None:
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

    def run_args(self, module: str, spec: dict[str, Any], warnings: list[str]) -> list[str]:
        """``podman run`` arguments for one module of the manifest."""
        settings = spec.get("settings", {})
        options = join_create_options(settings)
        args = ["run", "-d", "--name", self.container(module), "--label", self.label,
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
        args += self.emulation_args(settings["image"])
        args.append(settings["image"])
        if cmd:
            args += cmd if isinstance(cmd, list) else [cmd]
        return args

    def emulation_args(self, image: str) -> list[str]:
        """What a container of the image's architecture needs under qemu-user (``emulation.run_args``)."""
        proc = self.engine.run(["image", "inspect", "--format", "{{.Architecture}}", image], check=False)
        return emulation.run_args((proc.stdout or "").strip(), self.state_dir / "emulation")

    def start(self, module: str, args: list[str], image: str) -> None:
        try:
            self.engine.run(args, timeout=300)
        except ContainerError as exc:
            raise SimulatorError(f"module {module}: cannot start {image}: {exc}") from exc

    def logs(self, module: str, tail: int = 200) -> str:
        proc = self.engine.run(["logs", "--tail", str(tail), self.container(module)], check=False)
        return proc.stdout + proc.stderr
