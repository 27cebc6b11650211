"""The local fleet hub: what IoT Hub and each device's edgeAgent do between the local fleet's configurations
(``LocalFleet``, ``<state>/fleet/fleet.json``) and its devices, which are edge simulators with real containers.

``python -m localstack.fleet_hub --state-dir S --devices S/fleet/devices.json --registry R --models-dir M``
registers every device of the devices file (id, architecture, simulator URL) in the local fleet with the tags
``arch`` and ``site: local``, then runs one thread per device that every ``--interval`` seconds:

- asks the device's simulator ``GET /health``; no answer = the device is disconnected (the fleet keeps its last
  reported state and never counts it failed; it converges when it answers again);
- computes the device's merged desired content from the configurations (targets, priorities, layers) and turns
  it into a deployment manifest: the runtime and system modules every device has, the model modules of the
  layers, and beside each model module its fleet reporter (``edge/fleet_reporter``, ``<module>-reporter``: the
  layer's own when the rollout put it there, setting ``FACTORY_FLEET_REPORTER_IMAGE``, else the hub's) whose
  desired properties carry the model's ``factory`` section and the traffic setting (the model's own sample
  request, ``models/<model>/model/sample-request.json``, at ``--traffic-per-second``); it ``PUT``s the manifest
  to the simulator only when it changed;
- copies edgeAgent's runtime status of each model module and each reporter's reported ``factory`` section (the
  model's measured signals) onto the model module's twin in the fleet (``LocalFleet.update``), writing only
  when something changed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory.adapters.local.fleet_store import LocalFleet
from factory.edge.manifest import EDGE_AGENT_IMAGE, EDGE_HUB_IMAGE, validate_manifest
from factory.rollout.fleet import REPORTER_SUFFIX, is_reporter, reporter_module

LOG = logging.getLogger("factory.fleet_hub")
MAX_SAMPLE_BYTES = 64 * 1024
SITE = "local"
# podman's container state -> edgeAgent's runtimeStatus (what the gate reads); anything else: unknown (starting)
RUNTIME_STATUS = {"running": "running", "failed": "failed", "exited": "stopped", "stopped": "stopped",
                  "paused": "stopped", "dead": "failed"}
RETRY_REFUSED_S = 60.0  # a deployment the device refused is tried again after this long (or when it changes)
STATUS_EVERY = 3  # steps between two reads of a device's module states and reports (2 s steps: every 6 s)
CRASH_LOOP_RESTARTS = 2  # a running module restarted this often since its deployment is crash-looping
_MODEL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DEVICE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class FleetDevice:
    """One device of the local fleet: its id, architecture and edge simulator."""

    id: str
    arch: str
    url: str

    @classmethod
    def parse(cls, raw: Any) -> FleetDevice:
        if not isinstance(raw, dict) or not _DEVICE.match(str(raw.get("id", ""))) \
                or raw.get("arch") not in ("amd64", "arm64") \
                or not str(raw.get("url", "")).startswith("http://127.0.0.1:"):
            raise ValueError(f"bad fleet device {raw!r}: expected id, arch amd64|arm64, url http://127.0.0.1:PORT")
        return cls(str(raw["id"]), str(raw["arch"]), str(raw["url"]))


def load_devices(path: Path) -> list[FleetDevice]:
    return [FleetDevice.parse(raw) for raw in json.loads(path.read_text())]


def sample_request(models_dir: Path, model: str) -> Any:
    """The model's declared sample request, or None (unknown model name, no file, too large, not JSON)."""
    if not _MODEL.match(model):
        return None
    path = models_dir / model / "model" / "sample-request.json"
    try:
        if path.stat().st_size > MAX_SAMPLE_BYTES:
            return None
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def manifest(desired: dict[str, dict[str, Any]], reporter_image: str, traffic: dict[str, Any]) -> dict[str, Any]:
    """The device's deployment manifest content for its merged desired properties (``{}``: no model module).
    Beside each model module its fleet reporter: the layer's own when the layer carries one (``<module>-reporter``,
    setting ``FACTORY_FLEET_REPORTER_IMAGE``), else one of ``reporter_image`` (a layer without it).
    ``traffic``: model name -> the reporter's ``traffic`` desired section."""
    modules: dict[str, Any] = desired.get("$edgeAgent", {}).get("modules", {})
    if not modules:
        return {}
    content: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for module, spec in sorted(modules.items()):
        if is_reporter(module, modules):
            continue  # the layer carries this model module's reporter: placed with its model module below
        factory: dict[str, Any] = desired.get(module, {}).get("factory", {})
        custom[module] = {**spec, "startupOrder": 1}
        reporter = module + REPORTER_SUFFIX
        custom[reporter] = modules.get(reporter) or reporter_module(module, reporter_image)
        content[module] = {"properties.desired": desired.get(module, {})}
        section: dict[str, Any] = dict(desired.get(reporter) or {"factory": factory})
        if str(factory.get("model", "")) in traffic:
            section["traffic"] = traffic[str(factory["model"])]
        content[reporter] = {"properties.desired": section}
    content["$edgeAgent"] = {"properties.desired": {
        "schemaVersion": "1.1",
        "runtime": {"type": "docker", "settings": {"minDockerVersion": "v1.25", "loggingOptions": "",
                                                   "registryCredentials": {}}},
        "systemModules": {
            "edgeAgent": {"type": "docker", "settings": {"image": EDGE_AGENT_IMAGE, "createOptions": "{}"}},
            "edgeHub": {"type": "docker", "status": "running", "restartPolicy": "always", "startupOrder": 0,
                        "settings": {"image": EDGE_HUB_IMAGE, "createOptions": "{}"}}},
        "modules": custom}}
    content["$edgeHub"] = {"properties.desired": {
        "schemaVersion": "1.2", "routes": {}, "storeAndForwardConfiguration": {"timeToLiveSecs": 7200}}}
    validate_manifest({"modulesContent": content})
    return content


def _call(method: str, url: str, body: Any = None, timeout: float = 5) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


class DeviceLoop:
    """One device's loop (see the module docstring)."""

    def __init__(self, device: FleetDevice, fleet: LocalFleet, reporter_image: str, models_dir: Path,
                 per_second: float) -> None:
        self.device, self.fleet, self.reporter_image = device, fleet, reporter_image
        self.models_dir, self.per_second = models_dir, per_second
        self.applied: dict[str, Any] | None = None  # the content the simulator has (None: not read yet)
        self.last_report: Any = None
        self.refused: tuple[dict[str, Any], float] | None = None  # content the device refused, and when
        self.refusal = ""  # why
        self.steps = 0

    def traffic(self, desired: dict[str, dict[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for module in desired.get("$edgeAgent", {}).get("modules", {}):
            model = str(desired.get(module, {}).get("factory", {}).get("model", ""))
            request = sample_request(self.models_dir, model)
            if request is not None and self.per_second > 0:
                found[model] = {"request": request, "per_second": self.per_second}
        return found

    def step(self) -> None:
        url = self.device.url
        try:
            _call("GET", f"{url}/health", timeout=2)
        except (OSError, ValueError):
            self._report(False, {})
            self.applied = None  # read again when it returns (it may have been reset)
            self.steps = 0  # and report it at once then
            return
        desired = self.fleet.merged(self.device.id)
        content = manifest(desired, self.reporter_image, self.traffic(desired))
        if self.applied is None:
            self.applied = _call("GET", f"{url}/deployment").get("modulesContent") or {}
        refused = self.refused is not None and self.refused[0] == content
        if refused and self.refused is not None and time.monotonic() - self.refused[1] >= RETRY_REFUSED_S:
            self.applied = None  # try the refused deployment again
        if content != self.applied:
            LOG.info("%s: deploying %s", self.device.id, ", ".join(sorted(
                content.get("$edgeAgent", {}).get("properties.desired", {}).get("modules", {}))) or "nothing")
            self.applied = None
            modules = desired.get("$edgeAgent", {}).get("modules", {})
            self._report(True, {"$edgeAgent": {"modules": {m: {"runtimeStatus": "unknown"} for m in modules}}})
            try:  # edgeAgent's view while the device pulls and starts: nothing of what ran before is running
                if content:
                    _call("PUT", f"{url}/deployment", {"modulesContent": content}, timeout=900)
                else:
                    _call("DELETE", f"{url}/deployment", timeout=300)
            except urllib.error.HTTPError as exc:  # the device refused it (a pull failed, no image of its arch)
                why = exc.read().decode(errors="replace")[:300]
                LOG.warning("%s: the device refused the deployment: %s", self.device.id, why)
                self.refused, self.refusal = (content, time.monotonic()), why
                self.applied = content  # the simulator holds it (what it could start runs)
                refused = True
            else:
                self.refused, refused = None, False
                self.applied = content
            self.steps = 0  # read what the new deployment does at once
        self.steps += 1
        if (self.steps - 1) % STATUS_EVERY:
            return  # the device's state is read every STATUS_EVERY steps: each read costs it a `podman ps`
        agent = _call("GET", f"{url}/modules/$edgeAgent/twin")["reported"].get("modules", {})
        reported: dict[str, dict[str, Any]] = {"$edgeAgent": {"modules": {}}}
        modules = desired.get("$edgeAgent", {}).get("modules", {})
        for module in modules:
            status = agent.get(module, {})
            runtime = RUNTIME_STATUS.get(str(status.get("runtimeStatus", "")), "unknown")
            if refused and runtime != "running":
                runtime = "failed"  # the device could not start it (why: the hub's log, and ``error`` below)
            if runtime == "running" and int(status.get("restarts") or 0) >= CRASH_LOOP_RESTARTS:
                runtime = "backoff"  # what edgeAgent says of a module that keeps exiting and being restarted
            reported["$edgeAgent"]["modules"][module] = {"runtimeStatus": runtime,
                                                         "exitCode": status.get("exitCode", 0),
                                                         **({"error": self.refusal} if refused else {})}
            if is_reporter(module, modules):
                continue  # a reporter's own report is its model module's (below)
            try:
                twin = _call("GET", f"{url}/modules/{module}{REPORTER_SUFFIX}/twin")
            except urllib.error.HTTPError:
                continue  # not deployed yet
            factory = twin.get("reported", {}).get("factory")
            if isinstance(factory, dict):
                reported[module] = {"factory": factory}
        self._report(True, reported)

    def _report(self, connected: bool, reported: dict[str, dict[str, Any]]) -> None:
        if (connected, reported) == self.last_report:
            return  # nothing changed: no write
        self.fleet.update(self.device.id, connected, reported, replace=("$edgeAgent",) if reported else ())
        self.last_report = (connected, reported)

    def run(self, stop: threading.Event, interval: float) -> None:
        while not stop.is_set():
            try:
                self.step()
            except (OSError, ValueError, KeyError) as exc:
                LOG.warning("%s: %s", self.device.id, exc)
            stop.wait(interval)


def sign_reporter(registry: str, reporter: str, private_key: Path) -> None:
    """Sign the reporter index (``registry/repo@sha256:…``) as the factory signs a model's image, so a device
    pulling under the factory's policy runs it (idempotent: a signature already there is kept)."""
    from factory.adapters.local.signing import LocalKeySigner
    from factory.supplychain.cosign import sign_image
    from factory.supplychain.oci import Registry

    name, _, digest = reporter.partition("@")
    repository = name.removeprefix(f"{registry}/")
    sign_image(Registry(registry), repository, digest, LocalKeySigner(private_key, private_key.with_suffix(".pub")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The local fleet hub (see localstack/fleet_hub.py).")
    parser.add_argument("--state-dir", type=Path, required=True, help="the stack's state folder")
    parser.add_argument("--devices", type=Path, required=True, help="JSON list of {id, arch, url}")
    parser.add_argument("--registry", required=True, help="where the reporter image index is pushed")
    parser.add_argument("--models-dir", type=Path, required=True, help="the models' folders (sample requests)")
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--traffic-per-second", type=float, default=1.0, help="requests per device and model")
    parser.add_argument("--signing-key", type=Path, help="the factory's private key (0600): the reporter index is "
                        "signed with it, for devices whose policy requires the factory's signature")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    from factory.adapters.local.reporter_image import reporter_index

    reporter = reporter_index(args.registry)
    if args.signing_key:
        sign_reporter(args.registry, reporter, args.signing_key)
    fleet = LocalFleet(args.state_dir.resolve() / "fleet" / "fleet.json")
    devices = load_devices(args.devices)
    for device in devices:
        fleet.register(device.id, device.arch, {"arch": device.arch, "site": SITE})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threads = [threading.Thread(target=DeviceLoop(d, fleet, reporter, args.models_dir.resolve(),
                                                  args.traffic_per_second).run,
                                args=(stop, args.interval), name=d.id, daemon=True) for d in devices]
    for thread in threads:
        thread.start()
    (args.state_dir / "fleet" / "hub.json").write_text(json.dumps({"reporter": reporter, "devices": len(devices),
                                                                     "pid": os.getpid()}))
    print(f"fleet hub: {len(devices)} devices, reporter {reporter}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
