"""The fleet: every device with, per model module, its ring, the version the deployments want and the one it
reports, edgeAgent's runtime status, its health, and when the device last reported (the facts of
``model-factory fleet --json``, from ``Fleet.inventory``)."""

from __future__ import annotations

import azure.functions as func

from contract import FleetDevice
from function_app.pages.html import NOT_MEASURED, Links, a, esc, page, table

MAX_ROWS = 2000  # a page stays readable and small; the CLI's --json has every device
REFRESH_UP_TO = 1000  # devices: a larger fleet's page does not reload itself (each load queries every twin,
REFRESH_S = 60  # and IoT Hub allows 20 queries a minute per S1 unit: docs/edge.md, quotas)


def _module_cells(device: FleetDevice, links: Links) -> list[list[str]]:
    if not device.modules:
        return [[f"<span class='na'>{esc('no module')}</span>", "", "", "", "", "", ""]]
    rows: list[list[str]] = []
    for m in device.modules:
        healthy = m.health in ("", "ok") and m.status in ("", "running")
        behind = m.reported != m.desired
        rows.append([
            esc(m.module), a(links.model(m.model), m.model) if m.model else "", esc(m.ring) or NOT_MEASURED,
            esc(m.desired), f"<span class='{'na' if behind else 'pass'}'>{esc(m.reported or 'none yet')}</span>",
            esc(m.status) or NOT_MEASURED,
            f"<span class='{'pass' if healthy else 'fail'}'>{esc(m.health or 'not reported')}</span>"])
    return rows


def fleet_page(devices: list[FleetDevice], links: Links) -> func.HttpResponse:
    """One row per device and model module; the first ``MAX_ROWS`` devices, with a note when there are more."""
    shown = devices[:MAX_ROWS]
    online = sum(1 for d in devices if d.connected)
    rows: list[list[str]] = []
    for d in shown:
        device = [esc(d.device), esc(d.arch), esc(d.bucket) if d.bucket >= 0 else "<span class='na'>untagged</span>",
                  "<span class='pass'>online</span>" if d.connected else "<span class='fail'>offline</span>",
                  esc(d.last_report) or "<span class='na'>never</span>"]
        rows += [device + cells for cells in _module_cells(d, links)]
    more = (f"<p class='na'>showing {len(shown)} of {len(devices)} devices "
            "(<code>model-factory fleet --json</code> lists every one)</p>") if len(devices) > len(shown) else ""
    body = (f"<p>{len(devices)} device{'s' * (len(devices) != 1)}, {online} online.</p>" + more
            + (table(["device", "architecture", "bucket", "connection", "last report", "module", "model", "ring",
                      "desired", "reported", "status", "health"], rows, cls="fleet")
               if rows else "<p class='na'>the fleet has no devices</p>"))
    return page(200, "Fleet", body, nav=links.nav(), refresh_s=REFRESH_S if len(devices) <= REFRESH_UP_TO else None)
