"""The edge smoke test's service: what the edge activities do, on any ``EdgeDeployer`` (simulator or IoT Hub)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from contract import EdgeDeployment, EdgeLease, EdgeReport, EdgeSmokeRequest, ModulesContent
from factory.edge.manifest import (
    SMOKE_MODULE,
    SmokeCase,
    SmokeDeployment,
    build_manifest,
    load_model_cases,
    module_name,
    registry_credentials_from_settings,
)
from factory.edge.verdict import verdict_from_reported
from factory.ports import EdgeDeployer
from factory.settings import Settings


@dataclass
class EdgeSmokeService:
    """Lease, snapshot, deploy, read the report, restore, release: one idempotent call per activity."""

    deployer: EdgeDeployer
    settings: Settings

    def lease(self, run_id: str, ttl_seconds: float) -> EdgeLease:
        """Take (or renew) the device for this run."""
        return self.deployer.lease(run_id, ttl_seconds)

    def release(self, run_id: str) -> None:
        """Give the device back (no-op when this run does not hold it)."""
        self.deployer.release(run_id)

    def snapshot(self) -> ModulesContent:
        """The device's current modules content (``{}`` when it has none)."""
        return self.deployer.current_content()

    def smoke_image(self, request: EdgeSmokeRequest) -> str:
        """The smoke module image: the request's ``smoke_image``, else setting ``FACTORY_EDGE_SMOKE_IMAGE``, else
        the device's own (``EdgeDeployer.smoke_image``: built locally, or the setting on Azure)."""
        return request.smoke_image or self.settings.edge_smoke_image or self.deployer.smoke_image()

    def manifest(self, request: EdgeSmokeRequest) -> dict[str, Any]:
        """The validated deployment manifest for a smoke request."""
        if request.cases:
            cases = [SmokeCase.from_dict(c) for c in request.cases]
        else:
            cases = load_model_cases(self.settings.models_dir / request.model)
        return build_manifest(SmokeDeployment(
            run_id=request.run_id, model=request.model, model_image=request.image,
            smoke_image=self.smoke_image(request), cases=cases,
            ready_timeout_seconds=int(request.ready_timeout_seconds),
            request_timeout_seconds=int(request.request_timeout_seconds),
            repeat=int(request.repeat),
            registries=registry_credentials_from_settings(self.settings)))

    def deploy(self, request: EdgeSmokeRequest) -> EdgeDeployment:
        """Apply the smoke manifest (re-applying the same one is harmless: the module reports once per run)."""
        manifest = self.manifest(request)
        self.deployer.apply(manifest["modulesContent"])
        return EdgeDeployment(module=module_name(request.model), smoke_module=SMOKE_MODULE, image=request.image)

    def read_report(self, run_id: str) -> EdgeReport:
        """The smoke module's verdict for the run, or what it last reported and how the modules are running."""
        reported = self.deployer.reported(SMOKE_MODULE)
        verdict = verdict_from_reported(run_id, reported)
        seen = {k: reported[k] for k in ("runId", "status", "reason") if reported.get(k)}
        modules: dict[str, Any] = {}
        agent = self.deployer.reported("$edgeAgent")
        if verdict is None:  # say why there is nothing yet: are the modules running at all?
            running: dict[str, dict[str, Any]] = agent.get("modules") or {}
            modules = {name: m.get("runtimeStatus", "?") for name, m in running.items()}
        else:  # what the device downloaded for this deployment (the simulator reports it; IoT Edge does not)
            pulled: dict[str, Any] = agent.get("pulledBytes") or {}
            verdict = replace(verdict, bytes_pulled=sum(int(v) for v in pulled.values() if isinstance(v, int)))
        return EdgeReport(verdict=verdict, seen=seen, modules=modules)

    def restore(self, content: ModulesContent) -> None:
        """Put the snapshot back (``{}``: the device had no deployment)."""
        self.deployer.restore(content)
