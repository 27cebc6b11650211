"""``EdgeSimulatorDeployer``: the ``EdgeDeployer`` adapter for the local edge simulator
(``localstack/edge_simulator.py``), over its HTTP API on 127.0.0.1.

Settings: ``FACTORY_EDGE_SIM_URL`` (default ``http://127.0.0.1:7075``), ``FACTORY_EDGE_SIM_TIMEOUT`` (seconds
for one apply, default 600), ``FACTORY_DEV_REGISTRY`` (where the smoke module's image index is pushed, so an
arm64 device runs its arm64 image; unset: the host's image from local storage) and ``FACTORY_IMAGE_ARCHES``
(its architectures, default ``amd64,arm64``, as for the model images).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from contract import EdgeLease
from factory import ports

DEFAULT_URL = "http://127.0.0.1:7075"


class SimulatorError(RuntimeError):
    """The edge simulator refused a request or could not be reached."""


class EdgeSimulatorDeployer:
    """``EdgeDeployer`` for the local edge simulator's HTTP API."""

    def __init__(self, url: str = DEFAULT_URL, timeout: float = 600.0, registry: str = "",
                 arches: tuple[str, ...] = ("amd64", "arm64")) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.registry = registry
        self.arches = arches

    @classmethod
    def from_settings(cls, settings: Any) -> EdgeSimulatorDeployer:
        """``FACTORY_EDGE_SIM_URL`` (default http://127.0.0.1:7075), ``FACTORY_EDGE_SIM_TIMEOUT`` (600 s)."""
        return cls.for_device(settings, None)

    @classmethod
    def for_device(cls, settings: Any, device: Any) -> EdgeSimulatorDeployer:
        """The deployer for one pool device (``factory.edge.pool.Device`` with the simulator's ``url``)."""
        arches = tuple(a.strip() for a in settings.env("FACTORY_IMAGE_ARCHES", "amd64,arm64").split(",") if a.strip())
        return cls((device.url if device else "") or settings.env("FACTORY_EDGE_SIM_URL", DEFAULT_URL),
                   float(settings.env("FACTORY_EDGE_SIM_TIMEOUT", "600")),
                   settings.env("FACTORY_DEV_REGISTRY", ""), arches)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")[:2000]
            raise SimulatorError(f"edge simulator {method} {self.url}{path}: HTTP {err.code}: {detail}") from err
        except urllib.error.URLError as err:
            raise SimulatorError(f"edge simulator at {self.url} is not reachable ({err.reason}); "
                                 f"start it with `model-factory up` or "
                                 f"`python -m localstack.edge_simulator --port PORT --state-dir DIR`") from err

    def current_content(self) -> dict[str, Any]:
        return self._call("GET", "/deployment")["modulesContent"]

    def apply(self, content: dict[str, Any]) -> None:
        self._call("PUT", "/deployment", {"modulesContent": content})

    def restore(self, content: dict[str, Any]) -> None:
        """Put back what ``current_content`` returned (``{}``: the device had no deployment)."""
        if content:
            self.apply(content)
        else:
            self._call("DELETE", "/deployment")

    def lease(self, holder: str, ttl_seconds: float) -> EdgeLease:
        return EdgeLease.from_dict(self._call("POST", "/lease", {"holder": holder, "ttl_seconds": ttl_seconds}))

    def release(self, holder: str) -> None:
        self._call("DELETE", f"/lease?holder={urllib.parse.quote(holder)}")

    def smoke_image(self) -> str:
        """The smoke module image built locally from ``edge/smoke_module`` (once, then cached): an image index
        pushed to the dev registry when there is one, so every device runs its architecture's image."""
        from factory.adapters.local.smoke_image import local_smoke_image

        return local_smoke_image(registry=self.registry, arches=self.arches)

    def reported(self, module: str) -> dict[str, Any]:
        try:
            return self._call("GET", f"/modules/{module}/twin")["reported"]
        except SimulatorError as exc:
            if "HTTP 404" in str(exc):
                return {}
            raise


# pyright checks each adapter against its port here (a missing or mistyped method fails `make test`)
_EdgeSimulatorDeployer: type[ports.EdgeDeployer] = EdgeSimulatorDeployer
