"""A small client for the factory's HTTP API (runs, approvals), used by the CLI and the tests."""

from __future__ import annotations

import html
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any

from cli.follow import Follower
from contract import RunSummary


class FactoryClient:
    def __init__(self, base_url: str, function_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.function_key = function_key

    def _call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
              ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method, headers={
            "x-functions-key": self.function_key, "Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as err:
            raw, status = err.read(), err.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def start_run(self, model: str, data: str, idempotency_key: str | None = None,
                  source_commit: str | None = None) -> tuple[int, Any]:
        """``POST /api/runs``; ``data`` may be ``"latest"`` (the model's newest upload)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = {"model": model, "data": data, **({"source_commit": source_commit} if source_commit else {})}
        return self._call("POST", "/api/runs", body, headers)

    def runs(self) -> list[dict[str, Any]]:
        """``GET /api/runs`` as it answered (the wire form; ``summaries`` reads it as records)."""
        status, body = self._call("GET", "/api/runs")
        if status != 200:
            raise RuntimeError(f"GET /api/runs answered {status}: {body}")
        return body["runs"]

    def run(self, run_id: str) -> dict[str, Any] | None:
        """``GET /api/runs/{run_id}`` as it answered (the wire form; ``summary`` reads it as a record)."""
        status, body = self._call("GET", f"/api/runs/{urllib.parse.quote(run_id)}")
        if status == 404:
            return None
        if status != 200:
            raise RuntimeError(f"GET /api/runs/{run_id} answered {status}: {body}")
        return body

    def summaries(self) -> list[RunSummary]:
        return [RunSummary.from_dict(r) for r in self.runs()]

    def summary(self, run_id: str) -> RunSummary | None:
        body = self.run(run_id)
        return None if body is None else RunSummary.from_dict(body)

    def approval_links(self, run_id: str) -> dict[str, str] | None:
        """The pending approval's signed links (an admin-key route; the status API never returns them), or None
        when the run waits for no approval."""
        status, body = self._call("GET", f"/api/runs/{urllib.parse.quote(run_id)}/approval-links")
        if status in (404, 409):
            return None
        if status != 200:
            raise RuntimeError(f"GET /api/runs/{run_id}/approval-links answered {status}: {body}")
        return body["links"]

    def rollout_links(self, run_id: str) -> dict[str, str] | None:
        """Signed pause / resume / abort links of the run's running fleet rollout (an admin-key route), or None
        when none is running."""
        status, body = self._call("GET", f"/api/runs/{urllib.parse.quote(run_id)}/rollout-links")
        if status in (404, 409):
            return None
        if status != 200:
            raise RuntimeError(f"GET /api/runs/{run_id}/rollout-links answered {status}: {body}")
        return body["links"]

    def watch(self, run_ids: Iterable[str], timeout: float = 600, poll: float = 1.0,
              follow: Follower | None = None) -> Iterator[tuple[str, RunSummary]]:
        """Poll the runs every ``poll`` seconds, yielding ``(run_id, summary)`` for each run that exists and had
        not ended at the last poll, until every run has ended or ``timeout`` seconds have passed. With a
        ``follow``er, a call that fails while the app restarts is ridden out (the run is asked again)."""
        pending = list(run_ids)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for run_id in list(pending):
                ok, run = follow.call(self.summary, run_id) if follow else (True, self.summary(run_id))
                if not ok or run is None:
                    continue
                yield run_id, run
                if run.has_ended:
                    pending.remove(run_id)
            if pending:
                time.sleep(poll)

    def wait(self, run_id: str, timeout: float = 600, poll: float = 1.0) -> dict[str, Any]:
        """Poll until the run ends (Completed/Failed/Terminated); its summary's wire form. Raises TimeoutError
        otherwise."""
        for _, run in self.watch([run_id], timeout, poll):
            if run.has_ended:
                return run.to_dict()
        raise TimeoutError(f"run {run_id} did not end within {timeout:.0f} s")


def page_text(page: str) -> str:
    """The message of one of the app's small HTML pages (its title and paragraphs), as plain text."""
    parts = re.findall(r"<(?:h1|p)>(.*?)</(?:h1|p)>", page, flags=re.S)
    return ": ".join(html.unescape(re.sub(r"<[^>]+>", "", p)).strip() for p in parts) or page.strip()[:200]


def post_link(url: str, headers: dict[str, str] | None = None, method: str = "POST") -> tuple[int, str]:
    """Call a signed approval link (POST decides, GET only shows the confirmation page)."""
    req = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
