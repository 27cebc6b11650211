"""The fleet rollout section of a run's page: each ring's verdict, one row per gate signal (value, bound,
devices), from ``lineage.rollout`` (the ended rollout)."""

from __future__ import annotations

from contract import RolloutResult
from function_app.pages.html import esc


def _number(value: float) -> str:
    return f"{value:g}"


def rollout_section(rollout: RolloutResult | None) -> str:
    """``<h2>Fleet rollout</h2>`` and a table of every judged ring's signals; ``""`` without a rollout."""
    if rollout is None:
        return ""
    head = (f"<p>{esc(rollout.status)}: version {esc(rollout.version)} over "
            f"{esc(rollout.previous_version or 'no previous version')}"
            + (f"; {esc(rollout.reason)}" if rollout.reason else "") + "</p>")
    rows: list[str] = []
    for ring in rollout.rings:
        offline = ", ".join(ring.offline)
        for check in ring.checks:
            verdict = "pass" if check.passed else "fail"
            where = (f"{esc(ring.ring)} ({ring.applied}/{ring.targeted} applied"
                     f"{'; offline: ' + esc(offline) if offline else ''})")
            rows.append(f"<tr><td>{where}</td><td>{esc(check.signal)}</td>"
                        f"<td class='{verdict}'>{_number(check.value)}</td><td>{_number(check.bound)}"
                        f"</td><td>{esc(', '.join(check.devices))}</td><td>{esc(check.note)}</td></tr>")
    table = ("<table><tr><th>ring</th><th>signal</th><th>value</th><th>bound</th><th>devices</th><th>note</th></tr>"
             + "".join(rows) + "</table>") if rows else "<p class='na'>no ring judged yet</p>"
    return "<h2>Fleet rollout</h2>" + head + table
