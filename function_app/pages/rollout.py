"""The fleet rollout section of a run's page: each ring's verdict, one row per gate signal (value, bound,
devices), from ``lineage.rollout`` (the ended rollout) or the rollout's live ``custom_status``."""

from __future__ import annotations

from typing import Any

from factory.fields import as_dict, as_list
from function_app.pages.html import esc


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else esc(value)


def rollout_section(rollout: dict[str, Any]) -> str:
    """``<h2>Fleet rollout</h2>`` and a table of every judged ring's signals; ``""`` without a rollout."""
    if not rollout:
        return ""
    head = (f"<p>{esc(rollout.get('status', 'running'))}: version {esc(rollout.get('version', ''))} over "
            f"{esc(rollout.get('previous_version') or 'no previous version')}"
            + (f"; {esc(rollout['reason'])}" if rollout.get("reason") else "") + "</p>")
    rows = []
    for ring in as_list(rollout.get("rings")):
        ring = as_dict(ring)
        offline = ", ".join(str(d) for d in as_list(ring.get("offline")))
        for check in as_list(ring.get("checks")):
            check = as_dict(check)
            verdict = "pass" if check.get("passed") else "fail"
            devices = ", ".join(str(d) for d in as_list(check.get("devices")))
            where = (f"{esc(ring.get('ring', ''))} ({_number(ring.get('applied', 0))}/"
                     f"{_number(ring.get('targeted', 0))} applied{'; offline: ' + esc(offline) if offline else ''})")
            rows.append(f"<tr><td>{where}</td><td>{esc(check.get('signal', ''))}</td>"
                        f"<td class='{verdict}'>{_number(check.get('value'))}</td><td>{_number(check.get('bound'))}"
                        f"</td><td>{esc(devices)}</td><td>{esc(check.get('note', ''))}</td></tr>")
    table = ("<table><tr><th>ring</th><th>signal</th><th>value</th><th>bound</th><th>devices</th><th>note</th></tr>"
             + "".join(rows) + "</table>") if rows else "<p class='na'>no ring judged yet</p>"
    return "<h2>Fleet rollout</h2>" + head + table
