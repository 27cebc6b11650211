"""The edge simulator's HTTP API on 127.0.0.1: ``GET /health``, ``GET|PUT|DELETE /deployment``,
``GET /modules``, ``GET /modules/<name>/twin``, ``GET /modules/<name>/logs``, ``GET|POST /lease``,
``DELETE /lease?holder=``. Its client is ``factory.adapters.local.edge.EdgeSimulatorDeployer``."""

from __future__ import annotations

import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from factory.adapters.local.containers import ContainerError
from localstack.edge_containers import SimulatorError
from localstack.edge_twins import JsonHandler

if TYPE_CHECKING:
    from localstack.edge_simulator import EdgeSimulator


def api_handler(sim: EdgeSimulator) -> type[BaseHTTPRequestHandler]:
    class ApiHandler(JsonHandler):
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
                self._send(200, sim.lease(str(body.get("holder", "")), float(body.get("ttl_seconds", 3600))).to_dict())
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
