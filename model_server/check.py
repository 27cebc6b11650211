"""The scoring check: wait for ``/ready``, POST the sample request, compare with the expected response.

Used by the local builder (imported as ``model_server.check``) and inside the image by the ACR Task's
test step (``python -m model_server.check --url http://serve:5001 ...``), so both backends judge an image
the same way. Standard library only.

Expected response file: ``{"predictions": [...], "tolerance": 2.5}`` (absolute) or ``"tolerance": {"abs": 0,
"rel": 0.01}``; the comparison is ``compare.py``'s, the one the edge smoke module uses.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .compare import compare, split_expected, tolerance_text

__all__ = ["compare", "http", "main", "run_check", "split_expected", "wait_ready"]


def http(method: str, url: str, body: bytes | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    """One HTTP request; returns (status, body) for any status, raises OSError when nothing answers."""
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(base_url: str, timeout: float, alive: Any = None) -> None:
    """Poll ``GET /ready`` until 200; ``alive()`` (optional) returning False stops early. Raises TimeoutError."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise TimeoutError(f"the server stopped before {base_url}/ready answered 200 (last: {last})")
        try:
            status, body = http("GET", f"{base_url}/ready", timeout=2.0)
            if status == 200:
                return
            last = f"{status} {body[:200].decode(errors='replace')}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise TimeoutError(f"{base_url}/ready did not answer 200 within {timeout:.0f} s (last: {last})")


def run_check(base_url: str, request: Any, expected: Any, tolerance: float, path: str = "/score",
              timeout: float = 10.0, rel_tolerance: float = 0.0) -> tuple[bool, str]:
    """POST ``request`` to ``base_url + path`` and compare (numbers within ``tolerance`` absolute or
    ``rel_tolerance`` relative); returns (passed, a one-paragraph report)."""
    status, body = http("POST", base_url + path, json.dumps(request).encode(), timeout=timeout)
    text = body.decode(errors="replace")
    if status != 200:
        return False, f"POST {path} answered {status}: {text[:500]}"
    try:
        actual = json.loads(text)
    except json.JSONDecodeError:
        return False, f"POST {path} answered 200 but not JSON: {text[:500]}"
    problems = compare(expected, actual, tolerance, rel_tolerance)
    if problems:
        return False, f"POST {path} answered {text[:500]}; mismatches: " + "; ".join(problems[:10])
    return True, (f"POST {path} answered as expected (tolerance {tolerance_text(tolerance, rel_tolerance)}): "
                  f"{text[:300]}")


def _document(path: Path | None, env: str) -> Any:
    if path is not None:
        return json.loads(path.read_text())
    if env not in os.environ:
        raise SystemExit(f"give a file or set {env}")
    return json.loads(base64.b64decode(os.environ[env]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="model_server.check", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5001", help="the server's base URL")
    parser.add_argument("--request", type=Path, help="sample-request.json (default: base64 JSON in $CHECK_REQUEST_B64)")
    parser.add_argument("--expected", type=Path,
                        help="expected-response.json (default: base64 JSON in $CHECK_EXPECTED_B64)")
    parser.add_argument("--path", default="/score", help="the scoring route")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for /ready")
    args = parser.parse_args(argv)
    request = _document(args.request, "CHECK_REQUEST_B64")
    expected, tolerance, rel_tolerance = split_expected(_document(args.expected, "CHECK_EXPECTED_B64"))
    try:
        wait_ready(args.url.rstrip("/"), args.timeout)
    except TimeoutError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    passed, report = run_check(args.url.rstrip("/"), request, expected, tolerance, args.path,
                               rel_tolerance=rel_tolerance)
    print(("PASS: " if passed else "FAIL: ") + report, file=sys.stdout if passed else sys.stderr)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
